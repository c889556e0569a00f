import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import sqlite3 from 'sqlite3';

/** A database a test server runs on: the env that selects it, direct SQL for checks, and cleanup. */
export interface TestDatabase {
  label: 'SQLite' | 'PostgreSQL';
  env: Record<string, string>;
  /** Runs SQL directly on the database (not through the server), for checks after a crash or a restart. */
  query<T = any>(sql: string, params?: unknown[]): Promise<T[]>;
  cleanup(): Promise<void>;
}

export type DatabaseFactory = () => Promise<TestDatabase>;

/** A fresh SQLite file in a temp dir (the server's DATA_DIR). */
export async function sqliteDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'vicer-db-'));
  const file = join(dir, 'vicer.sqlite');
  return {
    label: 'SQLite',
    env: { DATA_DIR: dir },
    query: (sql, params = []) =>
      new Promise((resolve, reject) => {
        const db = new sqlite3.Database(file, sqlite3.OPEN_READWRITE, (err) => {
          if (err) return reject(err);
          db.all(sql, params, (e, rows) => db.close(() => (e ? reject(e) : resolve(rows as never[]))));
        });
      }),
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A database created for this test on the PostgreSQL server of ensurePostgres() (or `adminUrl`), dropped by cleanup. */
export async function pgDatabase(adminUrl?: string): Promise<TestDatabase> {
  adminUrl ??= await ensurePostgres();
  const name = `vicer_test_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  // A connection per statement: the server may be restarted under a test (the chaos tier does).
  const asAdmin = async (sql: string) => {
    const admin = new pg.Client({ connectionString: adminUrl });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      await admin.query(sql);
    } finally {
      await admin.end().catch(() => undefined);
    }
  };
  await asAdmin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    label: 'PostgreSQL',
    env: { DATABASE_URL: url.toString() },
    async query(sql, params = []) {
      const c = new pg.Client({ connectionString: url.toString() });
      c.on('error', () => undefined);
      await c.connect();
      try {
        return (await c.query(sql, params as unknown[])).rows;
      } finally {
        await c.end();
      }
    },
    async cleanup() {
      await asAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/**
 * Renames a table under a running server (to make its database fail for real, then answer again). On SQLite the
 * server may hold the write lock for a moment: tried again while SQLite says it is busy.
 */
export async function renameTable(db: TestDatabase, from: string, to: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await db.query(`ALTER TABLE ${from} RENAME TO ${to}`);
      return;
    } catch (err) {
      if (i >= 50 || !/SQLITE_BUSY/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export const DATABASES: Record<TestDatabase['label'], DatabaseFactory> = { SQLite: sqliteDatabase, PostgreSQL: pgDatabase };

let started: Promise<string> | undefined;

/**
 * The admin URL of a PostgreSQL server: TEST_PG_URL, else the machine's local one on 127.0.0.1:5432, else one this
 * process starts in a temp dir with Debian's initdb/pg_ctl (stopped when the process exits). A fresh machine with
 * no server running needs nothing started by hand.
 */
export function ensurePostgres(): Promise<string> {
  started ??= (async () => {
    const given = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
    if (await answers(given)) return given;
    if (process.env.TEST_PG_URL) throw new Error(`PostgreSQL is not reachable at TEST_PG_URL=${given}`);
    return (await startOwnPostgres()).url;
  })();
  return started;
}

async function answers(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

function pgBin(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) if (existsSync(join(dir, name))) return join(dir, name);
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().reverse() : [];
  for (const v of versions) if (existsSync(`/usr/lib/postgresql/${v}/bin/${name}`)) return `/usr/lib/postgresql/${v}/bin/${name}`;
  throw new Error(`no PostgreSQL server here: ${name} not found (apt-get install postgresql) and nothing answers on 127.0.0.1:5432`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A PostgreSQL server of this process's own, which a test may stop and start again (a database restart). */
export interface OwnPostgres {
  url: string;
  /** `immediate` is a crash (no checkpoint); `fast` a clean shutdown that ends every session. */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'vicer-pg-'));
  const port = await freePort();
  // PostgreSQL refuses to run as root: as root the cluster belongs to the postgres user.
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, uid('postgres'), gid('postgres'));
  const run = (bin: string, args: string[]) => {
    const cmd = asRoot ? ['runuser', '-u', 'postgres', '--', pgBin(bin), ...args] : [pgBin(bin), ...args];
    const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${bin} failed: ${r.stderr || r.stdout}`);
  };
  run('initdb', ['-D', join(dir, 'data'), '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const start = () => run('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const stop = (mode: 'fast' | 'immediate' = 'immediate') => {
    const cmd = asRoot ? ['runuser', '-u', 'postgres', '--', pgBin('pg_ctl')] : [pgBin('pg_ctl')];
    spawnSync(cmd[0], [...cmd.slice(1), '-D', join(dir, 'data'), '-m', mode, '-w', 'stop']);
  };
  start();
  process.once('exit', () => {
    stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, stop, start };
}

function uid(user: string): number {
  return Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
}
function gid(user: string): number {
  return Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
}
