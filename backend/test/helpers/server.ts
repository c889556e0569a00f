import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, listenAndSeed } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';

export const ADMIN_EMAIL = 'admin@vicer.test';
export const ADMIN_PASSWORD = 'admin-password-1';

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface TestServer {
  url: string;
  dataDir: string;
  app: NestFastifyApplication;
  announced: string[];
  env: Record<string, string>;
  /**
   * One request. Like a well-behaved client it sends it again after Retry-After when the answer is 503
   * `database-busy` (nothing was written), up to 5 times, unless `once`.
   */
  api<T = any>(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string; once?: boolean }): Promise<ApiResponse<T>>;
  /** How many requests `api` sent again after a 503 `database-busy`. */
  busyRetries: number;
  login(email: string, password: string): Promise<{ accessToken: string; refreshToken: string; user: any }>;
  /** Stops the server; keeps the data dir unless `wipe`. */
  close(wipe?: boolean): Promise<void>;
}

/** A real server on 127.0.0.1 and a random port, with its own SQLite file in a temp dir (or the given env). */
export async function startServer(env: Record<string, string> = {}, dataDir?: string): Promise<TestServer> {
  const dir = dataDir ?? env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'vicer-test-'));
  const ownDir = !dataDir && !env.DATA_DIR;
  const fullEnv: Record<string, string> = {
    DATA_DIR: dir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    VICER_DEMO: '0',
    // Suites open many sockets of one account from one address; the caps have tests of their own.
    MAX_SOCKETS_PER_USER: '100000',
    MAX_SOCKETS_PER_ADDRESS: '1000000',
    ...env,
  };
  for (const [k, v] of Object.entries(fullEnv)) if (v === '') delete fullEnv[k];
  const announced: string[] = [];
  const config = loadConfig(fullEnv);
  const app = await createApp(config);
  const port = await listenAndSeed(app, { ...config, port: 0, host: '127.0.0.1' }, { announce: (t) => announced.push(t) });
  const url = `http://127.0.0.1:${port}`;
  const server: TestServer = {
    url,
    dataDir: dir,
    app,
    announced,
    env: fullEnv,
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined = opts.raw;
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(opts.body);
      }
      for (let attempt = 1; ; attempt++) {
        const res = await fetch(url + path, { method, headers, body });
        const text = await res.text();
        let parsed: unknown = text;
        if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
        const busy = res.status === 503 && (parsed as { code?: string }).code === 'database-busy';
        if (!busy || opts.once || attempt >= 5) return { status: res.status, headers: res.headers, body: parsed as any };
        server.busyRetries++;
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after')) * 1000));
      }
    },
    busyRetries: 0,
    async login(email, password) {
      const res = await server.api('POST', '/api/auth/login', { body: { email, password } });
      if (res.status !== 200) throw new Error(`login ${email} failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    },
    async close(wipe = true) {
      await app.close();
      if (wipe && ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
