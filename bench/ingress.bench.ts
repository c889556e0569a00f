// node dist/node/bench/ingress.bench.js [vicer|raw] — what a vehicle's frames cost a relay with nobody watching,
// from the moment its stream starts: the relay's CPU (every thread, from the kernel's per-thread run time in
// nanoseconds) in 10 s windows, first with nothing connected, then with one vehicle sending H.264-sized frames at
// 30 fps. Shows how long the relay's code takes to reach its steady state (BENCH_WINDOWS windows, 18 by default).
import { readdirSync, readFileSync } from 'node:fs';
import { out, round, sleep } from './measure.js';
import { rawWsTarget, SOURCE_FPS, vicerTarget, type BenchFrame } from './targets.js';

/** CPU time of every thread of a process so far, in ns (`/proc/<pid>/task/<tid>/schedstat`). */
function runTimeNs(pid: number): number {
  let total = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return total;
}

/** ms of CPU per second over the next `seconds`. */
async function cpuMsPerSecond(pid: number, seconds: number): Promise<number> {
  const a = runTimeNs(pid);
  await sleep(seconds * 1000);
  return (runTimeNs(pid) - a) / 1e6 / seconds;
}

const which = process.argv[2] === 'raw' ? 'raw' : 'vicer';
const windows = Number(process.env.BENCH_WINDOWS ?? 18);
const target = which === 'raw' ? await rawWsTarget() : await vicerTarget(1);
await sleep(2000);
const nothing = await cpuMsPerSecond(target.pid(), 10);
out(`${which}: nothing connected, ${round(nothing)} ms of CPU per second`);
const vehicle = await target.vehicle(0);
// An access unit of the size the agent's 800 kbit/s stream averages, in AVC format (one NAL unit).
const frame: BenchFrame = { codec: 'h264', bytes: Buffer.concat([Buffer.from([0, 0, 0x0c, 0xe0]), Buffer.alloc(0x0ce0, 1)]), key: false };
let seq = 0;
const timer = setInterval(() => vehicle.sendFrame(++seq, Date.now(), frame), 1000 / SOURCE_FPS);
for (let i = 1; i <= windows; i++) {
  const before = seq;
  const ms = await cpuMsPerSecond(target.pid(), 10);
  const fps = (seq - before) / 10;
  out(`${String(i * 10).padStart(4)} s streaming: ${round(ms)} ms/s, ${Math.round(((ms - nothing) / fps) * 1000)} µs per frame above nothing connected`);
}
clearInterval(timer);
vehicle.close();
await target.stop();
process.exit(0);
