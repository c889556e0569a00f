import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts the real server (built app, fresh SQLite dir, random port) with the demo vehicle, and reads the admin
 * password it generates and prints on first start — as a new user would.
 */
export default async function globalSetup(): Promise<() => Promise<void>> {
  mkdirSync(join(root, 'e2e/artifacts'), { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'vicer-e2e-'));
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', VICER_DEMO: '1', MAX_SOCKETS_PER_USER: '200' } as Record<string, string>;
  delete env.ADMIN_PASSWORD;
  delete env.ADMIN_EMAIL;
  const server = spawn(process.execPath, [join(root, 'dist/node/backend/src/main.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
    server.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening on/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  const password = /password: (\S+)/.exec(out)?.[1];
  if (!password) throw new Error(`no generated admin password in: ${out}`);
  process.env.E2E_BASE_URL = `http://127.0.0.1:${port}`;
  process.env.E2E_ADMIN_EMAIL = 'admin@vicer.local';
  process.env.E2E_ADMIN_PASSWORD = password;
  return async () => {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  };
}
