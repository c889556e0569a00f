import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../src/config/paths.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './server.js';
import { freePort } from './databases.js';

export const MAIN = join(ROOT, 'dist/node/backend/src/main.js');

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal) once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** The built server as its own process (as `npm start` runs it), for crashes, signals and real shutdowns. */
export async function startServerProcess(env: Record<string, string>, opts: { port?: number; waitForListen?: boolean } = {}): Promise<ServerProcess> {
  const port = opts.port ?? (await freePort());
  const fullEnv: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    VICER_DEMO: '0',
    // Suites open many sockets of one account from one address; the caps have tests of their own.
    MAX_SOCKETS_PER_USER: '100000',
    MAX_SOCKETS_PER_ADDRESS: '1000000',
    ...env,
  };
  for (const [k, v] of Object.entries(fullEnv)) if (v === '') delete fullEnv[k];
  const child = spawn(process.execPath, [MAIN], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const proc: ServerProcess = { url: `http://127.0.0.1:${port}`, port, child, stdout: () => out, stderr: () => err, exited };
  if (opts.waitForListen === false) return proc;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}\n${err}`)), 60_000);
    const check = () => {
      if (/listening on/.test(out)) {
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before listening:\n${out}\n${err}`));
    });
  });
  return proc;
}

export async function stopProcess(proc: ServerProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill(signal);
  return proc.exited;
}

/** Plain HTTP against a server process, JSON in and out. */
export async function http(url: string, method: string, path: string, opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(url + path, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
  return { status: res.status, body: parsed, headers: res.headers };
}
