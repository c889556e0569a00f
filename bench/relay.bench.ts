// npm run bench:relay — control latency and video fan-out of the vicer relay, side by side with a raw `ws` relay
// (started here) and Mosquitto (127.0.0.1:1883) in the same run. Prints a table, writes bench/results/relay.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { ROOT } from '../backend/src/config/paths.js';
import { RELAY_NAMESPACE } from '../backend/src/protocol/index.js';
import { SimCar, SimRenderer } from '../apps/vehicle/sim.js';

const CONTROL_HZ = 50;
const SOURCE_FPS = 30;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_MS = 1000;
const VEHICLE_COUNTS = (process.env.BENCH_VEHICLES ?? '1,10,50').split(',').map(Number);
const WATCHER_COUNTS = (process.env.BENCH_WATCHERS ?? '1,10,50').split(',').map(Number);
const out = (s = '') => process.stdout.write(s + '\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Wall-clock ms with sub-ms resolution, comparable across processes on this machine. */
const now = () => performance.timeOrigin + performance.now();

// ---- clients: the same three roles on every target ---------------------------------------------------------------

interface Vehicle {
  onControl(cb: (seq: number) => void): void;
  sendFrame(seq: number, capturedAt: number, jpeg: Buffer): void;
  close(): void;
}
interface Operator {
  sendControl(seq: number): void;
  close(): void;
}
interface Watcher {
  onFrame(cb: (seq: number, capturedAt: number) => void): void;
  close(): void;
}
/** Enough to rebuild a target's clients in another process. */
type Descriptor = { kind: 'raw'; port: number } | { kind: 'mqtt'; run: string } | { kind: 'vicer'; base: string; token: string; vehicles: { id: string; token: string }[] };

interface Target {
  name: string;
  descriptor: Descriptor;
  pid(): number;
  vehicle(i: number): Promise<Vehicle>;
  operator(i: number): Promise<Operator>;
  stop(): Promise<void>;
}

function header(seq: number, capturedAt: number, jpeg: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeDoubleLE(seq, 0);
  h.writeDoubleLE(capturedAt, 8);
  return Buffer.concat([h, jpeg]);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function waitLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (pattern.test(buf)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited ${code} before ready: ${buf}`)));
  });
}

async function rawWsTarget(): Promise<Target> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'dist/node/bench/raw-ws-relay.js'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitLine(child, /ready/);
  const open = (q: string) =>
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?${q}`, { perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    });
  return {
    name: 'raw ws',
    descriptor: { kind: 'raw', port },
    pid: () => child.pid!,
    async vehicle(i) {
      const ws = await open(`role=vehicle&id=${i}`);
      return {
        onControl: (cb) => ws.on('message', (d) => cb(JSON.parse(d.toString()).seq)),
        sendFrame: (seq, at, jpeg) => ws.send(header(seq, at, jpeg)),
        close: () => ws.close(),
      };
    },
    async operator(i) {
      const ws = await open(`role=operator&id=${i}`);
      return { sendControl: (seq) => ws.send(JSON.stringify({ seq, throttle: 0.1, steer: 0, sentAt: Date.now() })), close: () => ws.close() };
    },
    async stop() {
      child.kill('SIGTERM');
    },
  };
}

async function mosquittoTarget(): Promise<Target | null> {
  const pid = Number(spawnSync('pgrep', ['-o', 'mosquitto'], { encoding: 'utf8' }).stdout.trim());
  if (!pid) return null;
  const connect = () =>
    new Promise<mqtt.MqttClient>((resolve, reject) => {
      const c = mqtt.connect('mqtt://127.0.0.1:1883', { reconnectPeriod: 0, connectTimeout: 3000 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
  try {
    (await connect()).end();
  } catch {
    return null;
  }
  const run = `b${process.pid}`;
  return {
    name: 'mosquitto',
    descriptor: { kind: 'mqtt', run },
    pid: () => pid,
    async vehicle(i) {
      const c = await connect();
      await c.subscribeAsync(`${run}/v/${i}/control`, { qos: 0 });
      return {
        onControl: (cb) => c.on('message', (_t, p) => cb(JSON.parse(p.toString()).seq)),
        sendFrame: (seq, at, jpeg) => void c.publish(`${run}/v/${i}/frame`, header(seq, at, jpeg), { qos: 0 }),
        close: () => void c.end(true),
      };
    },
    async operator(i) {
      const c = await connect();
      return { sendControl: (seq) => void c.publish(`${run}/v/${i}/control`, JSON.stringify({ seq, throttle: 0.1, steer: 0, sentAt: Date.now() }), { qos: 0 }), close: () => void c.end(true) };
    },
    async stop() {},
  };
}

async function vicerTarget(vehicles: number): Promise<Target> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'vicer-bench-'));
  const child = spawn(process.execPath, [...(process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean), join(ROOT, 'dist/node/backend/src/main.js')], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir, LOG_LEVEL: 'warn', VICER_DEMO: '0', ADMIN_PASSWORD: 'bench-password-1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitLine(child, /listening/);
  const base = `http://127.0.0.1:${port}`;
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    return res.json() as Promise<any>;
  };
  const { accessToken } = await post('/api/auth/login', { email: 'admin@vicer.local', password: 'bench-password-1' });
  const registered: { id: string; token: string }[] = [];
  for (let i = 0; i < vehicles; i++) registered.push(await post('/api/vehicles', { name: `bench-${i}` }, accessToken));
  const open = (auth: object) =>
    new Promise<Socket>((resolve, reject) => {
      const s = io(base + RELAY_NAMESPACE, { auth, transports: ['websocket'], forceNew: true, reconnection: false });
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    });
  return {
    name: 'vicer',
    descriptor: { kind: 'vicer', base, token: accessToken, vehicles: registered },
    pid: () => child.pid!,
    async vehicle(i) {
      const s = await open({ vehicleToken: registered[i].token });
      return {
        onControl: (cb) =>
          s.on('control', (c: { seq: number }) => {
            s.emit('control:ack', { seq: c.seq });
            cb(c.seq);
          }),
        sendFrame: (seq, at, jpeg) => void s.emit('frame', { seq, capturedAt: at, width: 640, height: 480, codec: 'jpeg' }, jpeg),
        close: () => void s.disconnect(),
      };
    },
    async operator(i) {
      const s = await open({ token: accessToken });
      const vehicleId = registered[i].id;
      const ack = await s.emitWithAck('drive:acquire', { vehicleId });
      if (!ack.ok) throw new Error('drive:acquire refused');
      return { sendControl: (seq) => void s.emit('control', { vehicleId, seq, throttle: 0.1, steer: 0, sentAt: Date.now() }), close: () => void s.disconnect() };
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- measurements -----------------------------------------------------------------------------------------------

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] : NaN);
const summary = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  return { samples: s.length, p50: round(pct(s, 0.5)), p99: round(pct(s, 0.99)), max: round(s[s.length - 1] ?? NaN) };
};
const round = (n: number) => Math.round(n * 100) / 100;
const CLK_TCK = 100;

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(parts[11]) + Number(parts[12]);
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** Operators send at 50 Hz to their vehicle; latency is operator send → vehicle receive (one process, one clock). */
async function controlRun(target: Target, vehicles: number, seconds: number, vehicleOffset = 0) {
  const vs: Vehicle[] = [];
  const ops: Operator[] = [];
  const samples: number[] = [];
  const sent = new Map<string, number>();
  let measuring = false;
  for (let i = 0; i < vehicles; i++) {
    const idx = i + vehicleOffset;
    const v = await target.vehicle(idx);
    v.onControl((seq) => {
      const t0 = sent.get(`${idx}:${seq}`);
      if (t0 !== undefined && measuring) samples.push(performance.now() - t0);
      sent.delete(`${idx}:${seq}`);
    });
    vs.push(v);
  }
  for (let i = 0; i < vehicles; i++) ops.push(await target.operator(i + vehicleOffset));
  const timers: NodeJS.Timeout[] = [];
  ops.forEach((op, i) => {
    let seq = 0;
    const idx = i + vehicleOffset;
    setTimeout(() => {
      timers.push(
        setInterval(() => {
          seq++;
          sent.set(`${idx}:${seq}`, performance.now());
          op.sendControl(seq);
        }, 1000 / CONTROL_HZ),
      );
    }, Math.random() * (1000 / CONTROL_HZ));
  });
  await sleep(WARMUP_MS);
  measuring = true;
  await sleep(seconds * 1000);
  measuring = false;
  timers.forEach(clearInterval);
  await sleep(100);
  ops.forEach((o) => o.close());
  vs.forEach((v) => v.close());
  return summary(samples);
}

/**
 * One vehicle streams a JPEG at 30 fps to N watchers that acknowledge every frame. The watchers run in their own
 * process, as real viewers would: decoding 50 video streams must not distort the control timings taken here.
 */
async function fanoutRun(target: Target, watchers: number, seconds: number, jpeg: Buffer, withControl: boolean) {
  const v = await target.vehicle(0);
  const child = spawn(process.execPath, [process.argv[1], 'watchers'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = (type: string) => new Promise<any>((resolve) => child.once('message', (m: any) => m.type === type && resolve(m)));
  child.send({ type: 'open', descriptor: target.descriptor, count: watchers });
  await reply('ready');
  let seq = 0;
  let sentDuring = 0;
  let measuring = false;
  const timer = setInterval(() => {
    v.sendFrame(seq++, now(), jpeg);
    if (measuring) sentDuring++;
  }, 1000 / SOURCE_FPS);
  const control = withControl ? controlRun(target, 1, seconds, 1) : null;
  await sleep(WARMUP_MS);
  const pid = target.pid();
  const ticks0 = cpuTicks(pid);
  const t0 = performance.now();
  let rss = rssMb(pid);
  child.send({ type: 'start' });
  measuring = true;
  const sampler = setInterval(() => (rss = Math.max(rss, rssMb(pid))), 250);
  await sleep(seconds * 1000);
  measuring = false;
  child.send({ type: 'stop' });
  const wall = (performance.now() - t0) / 1000;
  const cpu = ((cpuTicks(pid) - ticks0) / CLK_TCK / wall) * 100;
  const { counts, latency } = (await reply('result')) as { counts: number[]; latency: number[] };
  clearInterval(sampler);
  clearInterval(timer);
  const controlStats = control ? await control : null;
  child.kill();
  v.close();
  const sourceFps = sentDuring / wall;
  const perWatcher = counts.map((c) => c / wall);
  return {
    sourceFps: round(sourceFps),
    deliveredFpsMean: round(perWatcher.reduce((a, b) => a + b, 0) / watchers),
    deliveredFpsMin: round(Math.min(...perWatcher)),
    deliveredPct: round((Math.min(...perWatcher) / sourceFps) * 100),
    latency: summary(latency),
    cpuPct: round(cpu),
    rssMb: rss,
    controlUnderLoad: controlStats,
  };
}

/** The watchers' process: opens N watcher clients of the described target and reports what they received. */
async function watcherChild(): Promise<void> {
  let counts: number[] = [];
  const latency: number[] = [];
  let measuring = false;
  process.on('message', async (m: any) => {
    if (m.type === 'open') {
      counts = new Array(m.count).fill(0);
      for (let i = 0; i < m.count; i++) {
        const w = await watcherClient(m.descriptor as Descriptor);
        w.onFrame((_seq, at) => {
          if (!measuring) return;
          counts[i]++;
          latency.push(now() - at);
        });
      }
      process.send!({ type: 'ready' });
    } else if (m.type === 'start') measuring = true;
    else if (m.type === 'stop') {
      measuring = false;
      process.send!({ type: 'result', counts, latency });
    }
  });
}

async function watcherClient(d: Descriptor): Promise<Watcher> {
  if (d.kind === 'raw') {
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}/?role=watcher&id=0`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return { onFrame: (cb) => ws.on('message', (b: Buffer) => cb(b.readDoubleLE(0), b.readDoubleLE(8))), close: () => ws.close() };
  }
  if (d.kind === 'mqtt') {
    const c = await mqtt.connectAsync('mqtt://127.0.0.1:1883', { reconnectPeriod: 0 });
    await c.subscribeAsync(`${d.run}/v/0/frame`, { qos: 0 });
    return { onFrame: (cb) => c.on('message', (_t, p) => cb(p.readDoubleLE(0), p.readDoubleLE(8))), close: () => void c.end(true) };
  }
  const s = io(d.base + RELAY_NAMESPACE, { auth: { token: d.token }, transports: ['websocket'], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('connect_error', reject);
  });
  const vehicleId = d.vehicles[0].id;
  await s.emitWithAck('watch', { vehicleId });
  return {
    onFrame: (cb) =>
      s.on('frame', (meta: { seq: number; capturedAt: number }) => {
        s.emit('frame:ack', { vehicleId, seq: meta.seq });
        cb(meta.seq, meta.capturedAt);
      }),
    close: () => void s.disconnect(),
  };
}

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
    ['vicer', () => vicerTarget(Math.max(...VEHICLE_COUNTS) + 1)],
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
      const r = await fanoutRun(target, n, SECONDS, jpeg, withControl);
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
  const load = r.controlUnderLoad.find((x: any) => x.target === 'vicer');
  const idle = find(r.control, 'vicer', 'vehicles', 1);
  if (load && idle) out.push({ what: 'control p99 under video load within 1.5× of idle', ok: load.p99 <= 1.5 * idle.p99, detail: `${load.p99} vs ${idle.p99} ms (×${round(load.p99 / idle.p99)})` });
  return out;
}

(process.argv[2] === 'watchers' ? watcherChild() : main()).catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
