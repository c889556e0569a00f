import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ROOT } from '../../src/config/paths.js';
import { freePort, pgDatabase, type TestDatabase } from './databases.js';
import { http, startServerProcess, stopProcess, type ServerProcess } from './process.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './server.js';
import { connectPeer, type Peer } from './sockets.js';

/** A Redis server: the machine's on 127.0.0.1:6379 when it answers, or one of our own. */
export interface TestRedis {
  url: string;
  /** Only for a server started here. */
  stop?(): Promise<void>;
  start?(): Promise<void>;
  /** Freezes (SIGSTOP) and thaws (SIGCONT) the server: connections stay open, nothing is answered meanwhile. */
  pause?(): void;
  resume?(): void;
}

async function answers(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

let shared: Promise<TestRedis> | undefined;

/** TEST_REDIS_URL, else the machine's Redis, else one started here (stopped when the process exits). */
export function ensureRedis(): Promise<TestRedis> {
  shared ??= (async () => {
    const given = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
    if (await answers(given)) return { url: given };
    if (process.env.TEST_REDIS_URL) throw new Error(`Redis is not reachable at TEST_REDIS_URL=${given}`);
    const own = await startRedis();
    process.once('exit', () => void own.stop?.());
    return own;
  })();
  return shared;
}

/** A redis-server of our own on a random port, keeping nothing on disk; it can be stopped and started again. */
export async function startRedis(): Promise<Required<TestRedis>> {
  const dir = mkdtempSync(join(tmpdir(), 'vicer-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  const url = `redis://127.0.0.1:${port}`;
  const redis: Required<TestRedis> = {
    url,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
      for (let i = 0; i < 100 && !(await answers(url)); i++) await new Promise((r) => setTimeout(r, 50));
    },
    async stop() {
      if (!child) return;
      const c = child;
      child = null;
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
    },
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
  };
  await redis.start();
  process.once('exit', () => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return redis;
}

/** nginx from Debian in front of the instances, with deploy/nginx/vicer.conf pointed at their ports. */
export interface TestNginx {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startNginx(upstreamPorts: number[]): Promise<TestNginx> {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  if (!bin) throw new Error('nginx is not installed (apt-get install -y nginx)');
  const dir = mkdtempSync(join(tmpdir(), 'vicer-nginx-'));
  const port = await freePort();
  const servers = (extra: string) => upstreamPorts.map((p) => `    server 127.0.0.1:${p}${extra};`).join('\n');
  // The deployed config, with the test's ports: everything else (maps, headers, stickiness) as shipped.
  const site = readFileSync(join(ROOT, 'deploy/nginx/vicer.conf'), 'utf8')
    .replace(/(upstream vicer_balanced \{\n    least_conn;\n)(?:    server .*\n)+/, `$1${servers(' max_fails=1 fail_timeout=2s')}\n`)
    .replace(/(upstream vicer_sticky \{\n    hash \$remote_addr consistent;\n)(?:    server .*\n)+/, `$1${servers(' max_fails=1 fail_timeout=2s')}\n`)
    .replace(/listen 8080;/, `listen 127.0.0.1:${port};`);
  writeFileSync(join(dir, 'vicer.conf'), site);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/vicer.conf;
}
`,
  );
  const check = spawnSync(bin, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf')], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx -t: ${check.stderr}`);
  const child = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url + '/api/health');
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Three (or n) instances as separate processes on one PostgreSQL database and one Redis, with nginx in front. */
export interface TestCluster {
  db: TestDatabase;
  redis: TestRedis;
  prefix: string;
  instances: ServerProcess[];
  nginx: TestNginx;
  env: Record<string, string>;
  admin(): Promise<string>;
  /** A socket through nginx that landed on the named instance (connects again until it does). */
  socketOn(instanceId: string, auth: Record<string, unknown>, opts?: { reconnection?: boolean }): Promise<Peer>;
  /** A socket straight to one instance (no nginx). */
  direct(instanceId: string, auth: Record<string, unknown>, opts?: { reconnection?: boolean }): Promise<Peer>;
  url(instanceId: string): string;
  /** Starts an instance again (after a kill), with the same id and port. */
  restart(instanceId: string): Promise<ServerProcess>;
  stop(): Promise<void>;
}

export async function startCluster(opts: { instances?: number; redis?: TestRedis; env?: Record<string, string>; db?: TestDatabase } = {}): Promise<TestCluster> {
  const n = opts.instances ?? 3;
  const [db, redis] = await Promise.all([opts.db ?? pgDatabase(), opts.redis ? Promise.resolve(opts.redis) : ensureRedis()]);
  const prefix = `vicer-test-${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = { ...db.env, REDIS_URL: redis.url, REDIS_PREFIX: prefix, JWT_SECRET: randomBytes(32).toString('hex'), TRUST_PROXY: '1', ...opts.env };
  const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
  // The first one creates the schema and the admin; the others start on a ready database.
  const instances: ServerProcess[] = [await startServerProcess({ ...env, INSTANCE_ID: 'i1' }, { port: ports[0] })];
  instances.push(...(await Promise.all(ports.slice(1).map((port, i) => startServerProcess({ ...env, INSTANCE_ID: `i${i + 2}` }, { port })))));
  const nginx = await startNginx(ports);
  const index = (id: string) => Number(id.slice(1)) - 1;
  let adminToken: string | undefined;
  const cluster: TestCluster = {
    db,
    redis,
    prefix,
    instances,
    nginx,
    env,
    async admin() {
      adminToken ??= (await http(nginx.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.accessToken;
      return adminToken!;
    },
    async socketOn(instanceId, auth, o = {}) {
      // nginx balances by least connections: the misses stay open until the hit, so the target's turn comes. An
      // instance just restarted is skipped by nginx for its fail_timeout (2 s): keep trying past that.
      const misses: Peer[] = [];
      const deadline = Date.now() + 15_000;
      try {
        while (Date.now() < deadline) {
          const peer = await connectPeer(nginx.url, auth, o);
          const [hello] = await peer.next('hello', undefined, 5000);
          if (hello.instanceId === instanceId) return peer;
          misses.push(peer);
          if (misses.length % 3 === 0) await new Promise((r) => setTimeout(r, 250));
        }
      } finally {
        misses.forEach((p) => p.close());
      }
      throw new Error(`no socket landed on ${instanceId} through nginx`);
    },
    async direct(instanceId, auth, o = {}) {
      return connectPeer(cluster.url(instanceId), auth, o);
    },
    url: (id) => instances[index(id)].url,
    async restart(id) {
      const i = index(id);
      instances[i] = await startServerProcess({ ...env, INSTANCE_ID: id }, { port: ports[i] });
      return instances[i];
    },
    async stop() {
      await nginx.stop();
      await Promise.all(instances.map((p) => stopProcess(p, 'SIGKILL')));
      await db.cleanup();
      const r = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        const keys = await r.keys(`${prefix}:*`);
        if (keys.length) await r.del(...keys);
      } catch {
        // a Redis of our own that is gone already
      } finally {
        r.disconnect();
      }
    },
  };
  return cluster;
}
