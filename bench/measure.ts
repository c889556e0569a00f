// What every bench measures with: percentiles, a process's CPU and memory from /proc, free ports, child readiness.
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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
  const parts = statFields(`/proc/${pid}/stat`);
  return { user: Number(parts[11]) / CLK_TCK, system: Number(parts[12]) / CLK_TCK };
}
/** The fields of a process's or thread's stat file after its name (which may hold spaces), from the state on. */
function statFields(path: string): string[] {
  const f = readFileSync(path, 'utf8');
  return f.slice(f.lastIndexOf(')') + 2).split(' ');
}
/**
 * CPU ms a process's threads have run so far (the kernel's nanosecond run time, /proc/…/task/…/schedstat), by kind:
 * its main thread (a Node server's event loop), the threads of the lowest scheduling class (SCHED_IDLE), and all
 * others (V8's compiler and GC helpers, libuv's pool, worker threads of normal priority). Threads that ended are not
 * counted.
 */
export function threadCpuMs(pid: number): { main: number; idleClass: number; others: number } {
  const out = { main: 0, idleClass: 0, others: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ms = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      const policy = Number(statFields(`/proc/${pid}/task/${tid}/stat`)[38]);
      if (Number(tid) === pid) out.main += ms;
      else if (policy === 5) out.idleClass += ms;
      else out.others += ms;
    } catch {
      // The thread ended while being read.
    }
  }
  return out;
}

/** The machine's CPU time so far, in ticks: all of it and what the hypervisor gave to others (steal), /proc/stat. */
export function machineTicks(): { total: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8');
  const ticks = f.slice(0, f.indexOf('\n')).split(/\s+/).slice(1).map(Number);
  return { total: ticks.slice(0, 8).reduce((a, b) => a + b, 0), steal: ticks[7] ?? 0 };
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
