// The relays the benches compare, behind one set of client roles: the raw `ws` floor (bench/raw-ws-relay.ts),
// Mosquitto (when one answers on 127.0.0.1:1883) and vicer itself, started here on a temp database.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { ROOT } from '../backend/src/config/paths.js';
import { encodeFrameAck, encodeFrameMessage, FrameAcker, RELAY_NAMESPACE, type H264Config, type VideoCodec } from '../backend/src/protocol/index.js';
import { cpuSeconds, cpuSplit, freePort, now, round, rssMb, sleep, summary, waitLine } from './measure.js';

export const CONTROL_HZ = 50;
export const SOURCE_FPS = 30;
const WARMUP_MS = 1000;

/** One encoded frame as a vehicle sends it. */
export type BenchFrame = { codec: 'jpeg'; bytes: Buffer } | { codec: 'h264'; bytes: Buffer; key: boolean; config?: H264Config };

export interface Vehicle {
  onControl(cb: (seq: number) => void): void;
  sendFrame(seq: number, capturedAt: number, frame: BenchFrame): void;
  close(): void;
}
export interface Operator {
  sendControl(seq: number): void;
  close(): void;
}
export interface Watcher {
  onFrame(cb: (seq: number, capturedAt: number) => void): void;
  close(): void;
}
/** Enough to rebuild a target's clients in another process. */
export type Descriptor = { kind: 'raw'; port: number } | { kind: 'mqtt'; run: string } | { kind: 'vicer'; base: string; token: string; vehicles: { id: string; token: string }[] };

export interface Target {
  name: string;
  descriptor: Descriptor;
  pid(): number;
  vehicle(i: number): Promise<Vehicle>;
  operator(i: number): Promise<Operator>;
  stop(): Promise<void>;
}

/** The baselines carry seq and capture time in a 16-byte header before the frame. */
function header(seq: number, capturedAt: number, bytes: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeDoubleLE(seq, 0);
  h.writeDoubleLE(capturedAt, 8);
  return Buffer.concat([h, bytes]);
}

export async function rawWsTarget(): Promise<Target> {
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
        sendFrame: (seq, at, f) => ws.send(header(seq, at, f.bytes)),
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

export async function mosquittoTarget(): Promise<Target | null> {
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
        sendFrame: (seq, at, f) => void c.publish(`${run}/v/${i}/frame`, header(seq, at, f.bytes), { qos: 0 }),
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

export interface VicerServer {
  base: string;
  port: number;
  token: string;
  vehicles: { id: string; token: string }[];
  pid: number;
  stop(): Promise<void>;
}

/** A vicer server on a temp database with `vehicles` registered; `flags` go to node (e.g. --cpu-prof). */
export async function startVicer(vehicles: number, flags: string[] = [], env: Record<string, string> = {}): Promise<VicerServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'vicer-bench-'));
  const child = spawn(process.execPath, [...flags, join(ROOT, 'dist/node/backend/src/main.js')], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir, LOG_LEVEL: 'warn', VICER_DEMO: '0', ADMIN_PASSWORD: 'bench-password-1', MAX_SOCKETS_PER_USER: '100000', MAX_SOCKETS_PER_ADDRESS: '1000000', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitLine(child, /listening/);
  if (process.env.PROBE_LOG) child.stdout!.on('data', (d) => appendFileSync(process.env.PROBE_LOG!, d));
  const base = `http://127.0.0.1:${port}`;
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    return res.json() as Promise<any>;
  };
  const login = async () => (await post('/api/auth/login', { email: 'admin@vicer.local', password: 'bench-password-1' })).accessToken as string;
  let accessToken = await login();
  // Access tokens live 15 minutes, and a run can last longer: new watchers and operators get a fresh one.
  const renew = setInterval(async () => (accessToken = await login()), 10 * 60 * 1000);
  renew.unref();
  const registered: { id: string; token: string }[] = [];
  for (let i = 0; i < vehicles; i++) registered.push(await post('/api/vehicles', { name: `bench-${i}` }, accessToken));
  return {
    base,
    port,
    get token() {
      return accessToken;
    },
    vehicles: registered,
    pid: child.pid!,
    async stop() {
      clearInterval(renew);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function openRelay(base: string, auth: object): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s = io(base + RELAY_NAMESPACE, { auth, transports: ['websocket'], forceNew: true, reconnection: false });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

export async function vicerTarget(vehicles: number, env: Record<string, string> = {}): Promise<Target> {
  const server = await startVicer(vehicles, (process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean), env);
  const { base, vehicles: registered } = server;
  return {
    name: 'vicer',
    get descriptor(): Descriptor {
      return { kind: 'vicer', base, token: server.token, vehicles: registered };
    },
    pid: () => server.pid,
    async vehicle(i) {
      const s = await openRelay(base, { vehicleToken: registered[i].token, caps: { codecs: ['h264', 'jpeg'] } });
      return {
        onControl: (cb) =>
          s.on('control', (c: { seq: number }) => {
            s.emit('control:ack', { seq: c.seq });
            cb(c.seq);
          }),
        // As the vehicle agent sends them: one binary message per frame (BINARY_FRAME).
        sendFrame: (seq, at, f) => {
          const { bytes, ...codec } = f;
          s.io.engine.send(encodeFrameMessage({ seq, capturedAt: at, width: 640, height: 480, ...codec }, bytes));
        },
        close: () => void s.disconnect(),
      };
    },
    async operator(i) {
      const s = await openRelay(base, { token: server.token });
      const vehicleId = registered[i].id;
      const ack = await s.emitWithAck('drive:acquire', { vehicleId });
      if (!ack.ok) throw new Error('drive:acquire refused');
      return { sendControl: (seq) => void s.emit('control', { vehicleId, seq, throttle: 0.1, steer: 0, sentAt: Date.now() }), close: () => void s.disconnect() };
    },
    stop: () => server.stop(),
  };
}

/** Operators send at 50 Hz to their vehicle; latency is operator send → vehicle receive (one process, one clock). */
export async function controlRun(target: Target, vehicles: number, seconds: number, vehicleOffset = 0) {
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
  // Every sample too, for pooling across runs; not enumerable, so results written as JSON stay summaries.
  return Object.defineProperty(summary(samples), 'all', { value: samples, enumerable: false }) as ReturnType<typeof summary> & { all: number[] };
}

/**
 * One vehicle streams `frames` (cycled) at 30 fps to N watchers that acknowledge what they receive the way the web
 * app does. The watchers run in their own process (the bench script started with `watchers`), as real viewers would:
 * handling many video streams must not distort the timings or the CPU taken here.
 */
export async function fanoutRun(target: Target, watchers: number, seconds: number, frames: BenchFrame[], withControl: boolean, during?: () => Promise<void>) {
  const v = await target.vehicle(0);
  const child = spawn(process.execPath, [process.argv[1], 'watchers'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = (type: string) => new Promise<any>((resolve) => child.once('message', (m: any) => m.type === type && resolve(m)));
  child.send({ type: 'open', descriptor: target.descriptor, count: watchers, codec: frames[0].codec });
  await reply('ready');
  let seq = 0;
  let sentDuring = 0;
  let measuring = false;
  const timer = setInterval(() => {
    v.sendFrame(seq, now(), frames[seq % frames.length]);
    seq++;
    if (measuring) sentDuring++;
  }, 1000 / SOURCE_FPS);
  const control = withControl ? controlRun(target, 1, seconds, 1) : null;
  await sleep(WARMUP_MS);
  const pid = target.pid();
  const cpu0 = cpuSeconds(pid);
  const sys0 = cpuSplit(pid).system;
  const clientCpu0 = cpuSeconds(child.pid!);
  const t0 = performance.now();
  let rss = rssMb(pid);
  child.send({ type: 'start' });
  measuring = true;
  const sampler = setInterval(() => (rss = Math.max(rss, rssMb(pid))), 250);
  await Promise.all([sleep(seconds * 1000), during?.()]);
  measuring = false;
  child.send({ type: 'stop' });
  const wall = (performance.now() - t0) / 1000;
  const cpu = ((cpuSeconds(pid) - cpu0) / wall) * 100;
  const sys = ((cpuSplit(pid).system - sys0) / wall) * 100;
  const clientCpu = ((cpuSeconds(child.pid!) - clientCpu0) / wall) * 100;
  const { counts, latency } = (await reply('result')) as { counts: number[]; latency: number[] };
  clearInterval(sampler);
  clearInterval(timer);
  const controlStats = control ? await control : null;
  child.kill();
  v.close();
  const sourceFps = sentDuring / wall;
  const perWatcher = counts.map((c) => c / wall);
  const delivered = counts.reduce((a, b) => a + b, 0);
  return {
    sourceFps: round(sourceFps),
    deliveredFpsMean: watchers ? round(perWatcher.reduce((a, b) => a + b, 0) / watchers) : 0,
    deliveredFpsMin: watchers ? round(Math.min(...perWatcher)) : 0,
    deliveredPct: watchers ? round((Math.min(...perWatcher) / sourceFps) * 100) : 0,
    latency: summary(latency),
    cpuPct: round(cpu),
    /** Of which in the kernel (system calls: the sends, and on loopback the receiving side's TCP work too). */
    systemCpuPct: round(sys),
    /** The watchers' process (it shares the machine's cores with the server). */
    watchersCpuPct: round(clientCpu),
    /** Server CPU time per frame delivered to one watcher, in microseconds. */
    cpuUsPerFrame: round(((cpu / 100) * wall * 1e6) / Math.max(1, delivered)),
    deliveredPerSecond: round(delivered / wall),
    rssMb: rss,
    controlUnderLoad: controlStats,
  };
}

/** The watchers' process: opens N watcher clients of the described target and reports what they received. */
export async function watcherChild(): Promise<void> {
  let counts: number[] = [];
  const latency: number[] = [];
  let measuring = false;
  process.on('message', async (m: any) => {
    if (m.type === 'open') {
      counts = new Array(m.count).fill(0);
      for (let i = 0; i < m.count; i++) {
        const w = await watcherClient(m.descriptor as Descriptor, m.codec as VideoCodec);
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

async function watcherClient(d: Descriptor, codec: VideoCodec): Promise<Watcher> {
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
  const s = await openRelay(d.base, { token: d.token });
  const vehicleId = d.vehicles[0].id;
  const ack = await s.emitWithAck('watch', { vehicleId, codecs: [codec] });
  if (!ack.ok) throw new Error(`watch refused: ${JSON.stringify(ack)}`);
  const acker = new FrameAcker((a) => s.io.engine.send(encodeFrameAck(a)));
  return {
    onFrame: (cb) =>
      s.on('frame', (meta: { seq: number; capturedAt: number; codec: VideoCodec }) => {
        acker.drawn(meta.codec, vehicleId, meta.seq);
        cb(meta.seq, meta.capturedAt);
      }),
    close: () => {
      acker.stop();
      s.disconnect();
    },
  };
}
