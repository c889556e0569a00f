// What every bench measures with: percentiles, a process's CPU and memory from /proc, free ports, child readiness.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';

export const out = (s = '') => process.stdout.write(s + '\n');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wall-clock ms with sub-ms resolution, comparable across processes on this machine. */
export const now = () => performance.timeOrigin + performance.now();
export const round = (n: number) => Math.round(n * 100) / 100;
export const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] : NaN);
/** The median, rounded as the benches print (the middle two averaged for an even count). */
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};
export const summary = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  return { samples: s.length, p50: round(pct(s, 0.5)), p95: round(pct(s, 0.95)), p99: round(pct(s, 0.99)), max: round(s[s.length - 1] ?? NaN) };
};

const CLK_TCK = 100;
/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}
/** CPU seconds a process has used so far, in user space and in the kernel. */
export function cpuSplit(pid: number): { user: number; system: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: Number(parts[11]) / CLK_TCK, system: Number(parts[12]) / CLK_TCK };
}
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Resolves once the child printed a line matching `pattern` on stdout. */
export function waitLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (pattern.test(buf)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited ${code} before ready: ${buf}`)));
  });
}
