// npm run bench:cluster — vicer on three instances (separate processes, PostgreSQL, Redis, nginx started here):
// control latency with the driver on the vehicle's instance vs on another one, and video to 60 watchers on one
// instance vs spread over three, with each instance's and Redis's CPU and Redis's traffic per frame.
// Prints a table and writes bench/results/cluster.json.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { io, type Socket } from 'socket.io-client';
import { ROOT } from '../backend/src/config/paths.js';
import { RELAY_NAMESPACE } from '../backend/src/protocol/index.js';
import { startCluster, type TestCluster } from '../backend/test/helpers/cluster.js';
import { http } from '../backend/test/helpers/process.js';
import { cpuSeconds, now, out, round, sleep, summary } from './measure.js';

const CONTROL_HZ = 50;
const SOURCE_FPS = 30;
const VEHICLES = 10;
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 60);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const WARMUP_MS = 1500;
function open(url: string, auth: object): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = io(url + RELAY_NAMESPACE, { auth, transports: ['websocket'], forceNew: true, reconnection: false });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

interface Fleet {
  vehicles: { id: string; token: string }[];
  admin: string;
}

/** N drivers at 50 Hz, each to its own vehicle; latency is driver send → vehicle receive (one process, one clock). */
async function controlRun(c: TestCluster, fleet: Fleet, vehicleOn: string, driverOn: string) {
  const samples: number[] = [];
  const sent = new Map<string, number>();
  let measuring = false;
  const sockets: Socket[] = [];
  for (let i = 0; i < VEHICLES; i++) {
    const v = await open(c.url(vehicleOn), { vehicleToken: fleet.vehicles[i].token });
    v.on('control', (cmd: { seq: number }) => {
      v.emit('control:ack', { seq: cmd.seq });
      const t0 = sent.get(`${i}:${cmd.seq}`);
      if (t0 !== undefined && measuring) samples.push(performance.now() - t0);
      sent.delete(`${i}:${cmd.seq}`);
    });
    sockets.push(v);
  }
  await sleep(300);
  const timers: NodeJS.Timeout[] = [];
  for (let i = 0; i < VEHICLES; i++) {
    const d = await open(c.url(driverOn), { token: fleet.admin });
    sockets.push(d);
    const vehicleId = fleet.vehicles[i].id;
    const ack = await d.emitWithAck('drive:acquire', { vehicleId });
    if (!ack.ok) throw new Error(`drive:acquire refused: ${JSON.stringify(ack)}`);
    let seq = 0;
    setTimeout(() => {
      timers.push(
        setInterval(() => {
          seq++;
          sent.set(`${i}:${seq}`, performance.now());
          d.emit('control', { vehicleId, seq, throttle: 0.1, steer: 0, sentAt: Date.now() });
        }, 1000 / CONTROL_HZ),
      );
    }, Math.random() * (1000 / CONTROL_HZ));
  }
  await sleep(WARMUP_MS);
  measuring = true;
  await sleep(SECONDS * 1000);
  measuring = false;
  timers.forEach(clearInterval);
  await sleep(200);
  sockets.forEach((s) => s.disconnect());
  await sleep(1500); // leases end, locks free
  return summary(samples);
}

async function redisTraffic(r: Redis): Promise<{ inBytes: number; outBytes: number; cpu: number }> {
  const info = await r.info();
  const num = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN);
  return { inBytes: num('total_net_input_bytes'), outBytes: num('total_net_output_bytes'), cpu: num('used_cpu_sys') + num('used_cpu_user') };
}

/** One vehicle on instance 1 at 30 fps; watchers (in a child process) spread over the named instances. */
async function videoRun(c: TestCluster, fleet: Fleet, jpeg: Buffer, spread: string[], watchers: number, redis: Redis) {
  const vehicle = await open(c.url('i1'), { vehicleToken: fleet.vehicles[VEHICLES].token });
  const child = spawn(process.execPath, [process.argv[1], 'watchers'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const reply = (type: string) => new Promise<any>((resolve) => child.once('message', (m: any) => m.type === type && resolve(m)));
  const targets = Array.from({ length: watchers }, (_, i) => c.url(spread[i % spread.length]));
  child.send({ type: 'open', targets, token: fleet.admin, vehicleId: fleet.vehicles[VEHICLES].id });
  await reply('ready');
  let seq = 0;
  let sentDuring = 0;
  let measuring = false;
  const timer = setInterval(() => {
    vehicle.emit('frame', { seq: seq++, capturedAt: now(), width: 640, height: 480, codec: 'jpeg' }, jpeg);
    if (measuring) sentDuring++;
  }, 1000 / SOURCE_FPS);
  await sleep(WARMUP_MS);
  const pids = c.instances.map((p) => p.child.pid!);
  const cpu0 = pids.map(cpuSeconds);
  const redis0 = await redisTraffic(redis);
  const t0 = performance.now();
  child.send({ type: 'start' });
  measuring = true;
  await sleep(SECONDS * 1000);
  measuring = false;
  child.send({ type: 'stop' });
  const wall = (performance.now() - t0) / 1000;
  const redis1 = await redisTraffic(redis);
  const cpu = pids.map((pid, i) => round(((cpuSeconds(pid) - cpu0[i]) / wall) * 100));
  const { counts, latency } = (await reply('result')) as { counts: number[]; latency: number[] };
  clearInterval(timer);
  child.kill();
  vehicle.disconnect();
  await sleep(500);
  const sourceFps = sentDuring / wall;
  const perWatcher = counts.map((n) => n / wall);
  return {
    spread: spread.join('+'),
    watchers,
    sourceFps: round(sourceFps),
    deliveredFpsMin: round(Math.min(...perWatcher)),
    deliveredPct: round((Math.min(...perWatcher) / sourceFps) * 100),
    latency: summary(latency),
    instanceCpuPct: cpu,
    redisCpuPct: round(((redis1.cpu - redis0.cpu) / wall) * 100),
    redisInPerFrame: Math.round((redis1.inBytes - redis0.inBytes) / sentDuring),
    redisOutPerFrame: Math.round((redis1.outBytes - redis0.outBytes) / sentDuring),
  };
}

async function watcherChild(): Promise<void> {
  let counts: number[] = [];
  const latency: number[] = [];
  let measuring = false;
  process.on('message', async (m: any) => {
    if (m.type === 'open') {
      counts = new Array(m.targets.length).fill(0);
      for (let i = 0; i < m.targets.length; i++) {
        const s = await open(m.targets[i], { token: m.token });
        await s.emitWithAck('watch', { vehicleId: m.vehicleId });
        s.on('frame', (meta: { seq: number; capturedAt: number }) => {
          s.emit('frame:ack', { vehicleId: m.vehicleId, seq: meta.seq });
          if (!measuring) return;
          counts[i]++;
          latency.push(now() - meta.capturedAt);
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

async function main() {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=640x480', '-frames:v', '1', '-q:v', '5', '-f', 'image2', '-c:v', 'mjpeg', 'pipe:1'], { maxBuffer: 8 << 20 });
  if (r.status !== 0) throw new Error('ffmpeg is needed for the sample frame');
  const jpeg = r.stdout;
  out(`vicer cluster benchmark — ${cpus().length} cores, node ${process.version}, 3 instances + nginx + Redis + PostgreSQL on this machine, ${SECONDS} s per cell`);
  const c = await startCluster({ instances: 3, env: { LOG_LEVEL: 'warn' } });
  const redis = new Redis(c.redis.url);
  try {
    const admin = await c.admin();
    const vehicles = [];
    for (let i = 0; i <= VEHICLES; i++) vehicles.push((await http(c.url('i1'), 'POST', '/api/vehicles', { token: admin, body: { name: `bench-${i}` } })).body);
    const fleet: Fleet = { vehicles, admin };
    await controlRun(c, fleet, 'i1', 'i1'); // warm-up, discarded
    const same = await controlRun(c, fleet, 'i1', 'i1');
    out(`control  same instance    ${VEHICLES} vehicles at ${CONTROL_HZ} Hz  p50 ${same.p50} ms  p99 ${same.p99} ms  max ${same.max} ms  (${same.samples} samples)`);
    const across = await controlRun(c, fleet, 'i1', 'i2');
    out(`control  across instances ${VEHICLES} vehicles at ${CONTROL_HZ} Hz  p50 ${across.p50} ms  p99 ${across.p99} ms  max ${across.max} ms  (${across.samples} samples)`);
    const video = [];
    for (const [spread, n] of [
      [['i1'], WATCHERS],
      [['i1', 'i2', 'i3'], WATCHERS],
      [['i1', 'i2', 'i3'], 6],
    ] as [string[], number][]) {
      const r = await videoRun(c, fleet, jpeg, spread, n, redis);
      video.push(r);
      out(
        `video    ${String(r.watchers).padStart(2)} watchers on ${r.spread.padEnd(8)}  ${r.deliveredFpsMin}/${r.sourceFps} fps (${r.deliveredPct} %)  frame p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms  cpu i1/i2/i3 ${r.instanceCpuPct.join('/')} %  redis cpu ${r.redisCpuPct} %  redis bytes/frame in ${r.redisInPerFrame} out ${r.redisOutPerFrame}`,
      );
    }
    const verdicts = [
      { what: 'control p99 across instances ≤ 2× same instance', ok: across.p99 <= 2 * same.p99, detail: `${across.p99} vs ${same.p99} ms (×${round(across.p99 / same.p99)})` },
      ...video.map((v) => ({ what: `≥ 95 % of source fps, ${v.watchers} watchers on ${v.spread}`, ok: v.deliveredPct >= 95, detail: `${v.deliveredPct} % (slowest watcher)` })),
      {
        what: 'Redis traffic per frame independent of the number of watchers',
        ok: Math.abs(video[1].redisOutPerFrame - video[2].redisOutPerFrame) <= 0.1 * video[2].redisOutPerFrame,
        detail: `${video[2].redisOutPerFrame} B/frame out with 6 watchers, ${video[1].redisOutPerFrame} with ${WATCHERS} (frame ${jpeg.length} B)`,
      },
    ];
    out('\nTargets');
    for (const v of verdicts) out(`  ${v.ok ? 'met   ' : 'MISSED'} ${v.what}: ${v.detail}`);
    const results = { date: new Date().toISOString(), cores: cpus().length, node: process.version, seconds: SECONDS, frameBytes: jpeg.length, control: { same, across }, video, verdicts };
    writeFileSync(join(ROOT, 'bench/results/cluster.json'), JSON.stringify(results, null, 2) + '\n');
    out('\nwrote bench/results/cluster.json');
  } finally {
    redis.disconnect();
    await c.stop();
  }
  process.exit(0);
}

(process.argv[2] === 'watchers' ? watcherChild() : main()).catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
