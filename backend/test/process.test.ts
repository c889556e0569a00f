import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { ROOT } from '../src/config/paths.js';
import { CRASH_EXIT_CODE } from '../src/logging/crash.js';
import { sqliteDatabase } from './helpers/databases.js';
import { startServerProcess } from './helpers/process.js';

const dist = (p: string) => pathToFileURL(join(ROOT, 'dist/node/backend/src', p)).href;

/** Runs a small program in a fresh Node process: what happens when an error escapes every handler. */
function crashProgram(kind: 'throw' | 'reject'): { status: number | null; stdout: string } {
  const program = `
    import { installCrashHandlers } from ${JSON.stringify(dist('logging/crash.js'))};
    import { createLogger, requestContext } from ${JSON.stringify(dist('logging/logger.js'))};
    installCrashHandlers(createLogger('info'));
    requestContext.run({ reqId: 'req-42' }, () => setTimeout(() => {
      ${kind === 'throw' ? "throw new Error('boom from a handler')" : "Promise.reject(new Error('boom from a handler'))"};
    }, 10));
    setTimeout(() => {}, 5000);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout };
}

describe('process: crashes, ports, secrets', () => {
  for (const kind of ['throw', 'reject'] as const) {
    it(`an error nobody handled (${kind}) is logged with its request id and the process exits non-zero for its supervisor`, () => {
      const { status, stdout } = crashProgram(kind);
      assert.equal(status, CRASH_EXIT_CODE);
      const fatal = stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .find((l) => l.level === 60);
      assert.ok(fatal, stdout);
      assert.equal(fatal.reqId, 'req-42');
      assert.match(fatal.err.message, /boom from a handler/);
      assert.match(fatal.msg, /supervisor restarts it/);
    });
  }

  it('a port in use stops the server before it creates the first admin or prints a password', { timeout: 60_000 }, async () => {
    const db = await sqliteDatabase();
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const proc = await startServerProcess({ ...db.env, ADMIN_PASSWORD: '' }, { port, waitForListen: false });
      const exit = await proc.exited;
      assert.equal(exit.code, 1);
      assert.match(proc.stderr(), new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port} \\(the port is in use\\)`));
      assert.doesNotMatch(proc.stdout(), /password/);
      const admins = await db.query('SELECT COUNT(*) AS n FROM users');
      assert.equal(Number(admins[0].n), 0, 'no account was created');
    } finally {
      blocker.close();
      await db.cleanup();
    }
  });

  it('a bad JWT_SECRET (or any secret) is named but never echoed', { timeout: 30_000 }, async () => {
    const db = await sqliteDatabase();
    try {
      const proc = await startServerProcess({ ...db.env, JWT_SECRET: 'hunter2-is-short', TURN_URLS: 'turn:x', TURN_SECRET: '' }, { waitForListen: false });
      const exit = await proc.exited;
      assert.equal(exit.code, 2);
      assert.match(proc.stderr(), /JWT_SECRET: must be at least 32 characters \(value hidden, 16 characters\)/);
      assert.doesNotMatch(proc.stderr() + proc.stdout(), /hunter2/);
      const url = await startServerProcess({ ...db.env, DATABASE_URL: 'mysql://admin:s3cret-pass@db:3306/x' }, { waitForListen: false });
      await url.exited;
      assert.match(url.stderr(), /DATABASE_URL/);
      assert.doesNotMatch(url.stderr(), /s3cret-pass/);
      assert.ok(!existsSync(join(db.env.DATA_DIR, 'vicer.sqlite')), 'nothing was created');
    } finally {
      await db.cleanup();
    }
  });
});
