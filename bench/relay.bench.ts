// npm run bench:relay — control latency and video fan-out of the vicer relay, side by side with a raw `ws` relay
// (started here) and Mosquitto (127.0.0.1:1883) in the same run. Prints a table, writes bench/results/relay.json.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../backend/src/config/paths.js';
import { SimCar, SimRenderer } from '../apps/vehicle/sim.js';
import { out, round } from './measure.js';
import { CONTROL_HZ, controlRun, fanoutRun, mosquittoTarget, rawWsTarget, vicerTarget, watcherChild, type Target } from './targets.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const VEHICLE_COUNTS = (process.env.BENCH_VEHICLES ?? '1,10,50').split(',').map(Number);
const WATCHER_COUNTS = (process.env.BENCH_WATCHERS ?? '1,10,50').split(',').map(Number);

function sampleJpeg(): Promise<Buffer> {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x480', '-frames:v', '1', '-q:v', '5', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1'], { maxBuffer: 8 << 20 });
  if (r.status === 0 && r.stdout.length > 1000) return Promise.resolve(r.stdout);
  return new SimRenderer(640, 480).render(new SimCar(), { seq: 0, estopped: false, connected: true, name: 'bench' });
}

async function main() {
  const jpeg = await sampleJpeg();
  out(`vicer relay benchmark — ${cpus().length} cores, node ${process.version}, ${SECONDS} s per cell, 640×480 JPEG of ${(jpeg.length / 1024).toFixed(1)} KiB`);
  const only = process.env.BENCH_TARGETS?.split(',');
  const factories = ([
    ['raw ws', rawWsTarget],
    ['mosquitto', mosquittoTarget],
    ['vicer', () => vicerTarget(Math.max(...VEHICLE_COUNTS) + 1, { RECORD_DRIVES: '0' })],
    // The same relay recording every drive (MCAP files): what recording costs, in the same run.
    ['vicer+rec', () => vicerTarget(Math.max(...VEHICLE_COUNTS) + 1, { RECORD_DRIVES: '1' })],
  ] as [string, () => Promise<Target | null>][]).filter(([name]) => !only || only.includes(name));
  const results: any = { date: new Date().toISOString(), cores: cpus().length, node: process.version, seconds: SECONDS, frameBytes: jpeg.length, control: [], fanout: [], controlUnderLoad: [] };
  for (const [name, make] of factories) {
    const target = await make();
    if (!target) {
      out(`${name}: not reachable, skipped`);
      continue;
    }
    await controlRun(target, 10, 2); // warm-up (JIT, connections), discarded
    for (const n of VEHICLE_COUNTS) {
      // At least 2 000 samples per cell, so that p99 is not one unlucky sample.
      const r = await controlRun(target, n, Math.max(SECONDS, Math.ceil(2000 / (CONTROL_HZ * n))));
      results.control.push({ target: name, vehicles: n, ...r });
      out(`control  ${name.padEnd(9)} ${String(n).padStart(2)} vehicles  p50 ${r.p50} ms  p99 ${r.p99} ms  max ${r.max} ms  (${r.samples} samples)`);
    }
    for (const n of WATCHER_COUNTS) {
      const withControl = n === Math.max(...WATCHER_COUNTS);
      const r = await fanoutRun(target, n, SECONDS, [{ codec: 'jpeg', bytes: jpeg }], withControl);
      results.fanout.push({ target: name, watchers: n, ...r, controlUnderLoad: undefined });
      out(`video    ${name.padEnd(9)} ${String(n).padStart(2)} watchers  ${r.deliveredFpsMin}/${r.sourceFps} fps (${r.deliveredPct} %)  latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms  server cpu ${r.cpuPct} %  rss ${r.rssMb} MB`);
      if (r.controlUnderLoad) {
        results.controlUnderLoad.push({ target: name, watchers: n, ...r.controlUnderLoad });
        out(`control+video ${name.padEnd(9)} p50 ${r.controlUnderLoad.p50} ms  p99 ${r.controlUnderLoad.p99} ms  max ${r.controlUnderLoad.max} ms`);
      }
    }
    await target.stop();
  }
  results.verdicts = verdicts(results);
  out('\nTargets');
  for (const v of results.verdicts) out(`  ${v.ok ? 'met   ' : 'MISSED'} ${v.what}: ${v.detail}`);
  writeFileSync(join(ROOT, 'bench/results/relay.json'), JSON.stringify(results, null, 2) + '\n');
  out('\nwrote bench/results/relay.json');
  process.exit(0);
}

function verdicts(r: any) {
  const find = (list: any[], target: string, key: string, n: number) => list.find((x) => x.target === target && x[key] === n);
  const out: { what: string; ok: boolean; detail: string }[] = [];
  for (const n of VEHICLE_COUNTS) {
    const v = find(r.control, 'vicer', 'vehicles', n);
    const raw = find(r.control, 'raw ws', 'vehicles', n);
    const mq = find(r.control, 'mosquitto', 'vehicles', n);
    if (v && raw) out.push({ what: `control p99 ≤ 1.5× raw ws at ${n} vehicles`, ok: v.p99 <= 1.5 * raw.p99, detail: `${v.p99} vs ${raw.p99} ms (×${round(v.p99 / raw.p99)})` });
    if (v && mq) out.push({ what: `control p99 ≤ Mosquitto at ${n} vehicles`, ok: v.p99 <= mq.p99, detail: `${v.p99} vs ${mq.p99} ms (×${round(v.p99 / mq.p99)})` });
  }
  const top = Math.max(...WATCHER_COUNTS);
  const vf = find(r.fanout, 'vicer', 'watchers', top);
  const rf = find(r.fanout, 'raw ws', 'watchers', top);
  if (vf) out.push({ what: `≥ 95 % of source fps at ${top} watchers`, ok: vf.deliveredPct >= 95, detail: `${vf.deliveredPct} % (slowest watcher)` });
  if (vf && rf) out.push({ what: `frame latency p99 ≤ 2× raw ws at ${top} watchers`, ok: vf.latency.p99 <= 2 * rf.latency.p99, detail: `${vf.latency.p99} vs ${rf.latency.p99} ms (×${round(vf.latency.p99 / rf.latency.p99)})` });
  for (const n of VEHICLE_COUNTS) {
    const v = find(r.control, 'vicer', 'vehicles', n);
    const rec = find(r.control, 'vicer+rec', 'vehicles', n);
    if (v && rec) out.push({ what: `recording: control p99 ≤ 1.1× not recording at ${n} vehicles`, ok: rec.p99 <= 1.1 * v.p99, detail: `${rec.p99} vs ${v.p99} ms (×${round(rec.p99 / v.p99)})` });
  }
  const recf = find(r.fanout, 'vicer+rec', 'watchers', top);
  if (vf && recf) out.push({ what: `recording: video fps ≥ 1/1.1 of not recording at ${top} watchers`, ok: recf.deliveredFpsMin * 1.1 >= vf.deliveredFpsMin, detail: `${recf.deliveredFpsMin} vs ${vf.deliveredFpsMin} fps` });
  const loadRec = r.controlUnderLoad.find((x: any) => x.target === 'vicer+rec');
  const load = r.controlUnderLoad.find((x: any) => x.target === 'vicer');
  if (load && loadRec) out.push({ what: `recording: control p99 under video load ≤ 1.1× not recording`, ok: loadRec.p99 <= 1.1 * load.p99, detail: `${loadRec.p99} vs ${load.p99} ms (×${round(loadRec.p99 / load.p99)})` });
  const idle = find(r.control, 'vicer', 'vehicles', 1);
  if (load && idle) out.push({ what: 'control p99 under video load within 1.5× of idle', ok: load.p99 <= 1.5 * idle.p99, detail: `${load.p99} vs ${idle.p99} ms (×${round(load.p99 / idle.p99)})` });
  return out;
}

(process.argv[2] === 'watchers' ? watcherChild() : main()).catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
