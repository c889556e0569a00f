// npm run bench:recording — what a drive recording costs on disk and in memory, on the simulator's real pictures:
//   1. bytes written per minute of a drive, H.264 (the agent's 800k) and JPEG (the agent's quality 75): 30 fps video,
//      controls at 30 Hz as received and as forwarded with their acks, telemetry at 10 Hz;
//   2. memory while one H.264 drive of 30 minutes is written (the drive's time simulated, the writer's pace real):
//      heap and RSS each minute, after a GC — flat means nothing of the drive is held;
//   3. the files checked as Foxglove reads them: indexed reader with every CRC validated, the schema names;
//   4. what recording costs the relay's own thread: its busy time with 50 drives recorded at once (controls at
//      30 Hz, each received, forwarded and acked; telemetry at 10 Hz), writers on that thread against the writer
//      thread the server uses, and nothing recorded as the baseline, in the same run.
//   5. what starting and ending a recorded drive costs the server: 50 drives begun and ended at once, again and
//      again, in a real server on SQLite: its main thread's CPU per drive and the SQL statements each drive sends.
// The recording's cost inside the relay (control p99, video fps) is measured by `npm run bench:relay` (vicer+rec).
import { McapIndexedReader, McapStreamReader } from '@mcap/core';
import sqlite3 from 'sqlite3';
import { createApp, listenAndSeed } from '../backend/src/app.js';
import { loadConfig } from '../backend/src/config/config.js';
import { RecordingsService } from '../backend/src/recordings/recordings.service.js';
import { VehiclesService } from '../backend/src/vehicles/vehicles.service.js';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../backend/src/config/paths.js';
import { DriveRecording } from '../backend/src/recordings/drive-recording.js';
import { RecorderThread, type Recorder } from '../backend/src/recordings/recorder-thread.js';
import { performance } from 'node:perf_hooks';
import type { FrameMeta } from '../backend/src/protocol/index.js';
import { H264Encoder, type EncodedFrame } from '../apps/vehicle/h264.js';
import { SimCar, SimRenderer } from '../apps/vehicle/sim.js';
import { median, out, round, sleep, threadCpuMs } from './measure.js';

const W = 640;
const H = 480;
const FPS = 30;
const CONTROL_HZ = 30;
const TELEMETRY_HZ = 10;
/** Seconds of pictures encoded; a longer drive loops them (the encoder's output per second is what matters). */
const SOURCE_SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const LONG_MINUTES = Number(process.env.BENCH_MINUTES ?? 30);
const work = mkdtempSync(join(tmpdir(), 'vicer-recording-bench-'));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

interface Picture {
  meta: FrameMeta;
  bytes: Buffer;
}

/** The simulator driving a curve, as the agent renders and encodes it. */
async function source(): Promise<{ h264: Picture[]; jpeg: Picture[] }> {
  const car = new SimCar();
  const r = new SimRenderer(W, H);
  const encoded: EncodedFrame[] = [];
  const enc = new H264Encoder({ width: W, height: H, fps: FPS, bitrate: '800k', pixelFormat: 'rgba' }, (f) => encoded.push(f), (why) => {
    throw new Error(why);
  });
  const jpeg: Picture[] = [];
  car.command(0.6, 0.4);
  const frames = SOURCE_SECONDS * FPS;
  for (let i = 0; i < frames; i++) {
    car.step(1 / FPS);
    r.draw(car, { seq: i, estopped: false, connected: true, name: 'bench' }, 1_700_000_000_000 + i * 33);
    enc.encode(Buffer.from(r.rgba()), i);
    jpeg.push({ meta: { seq: i, capturedAt: i, width: W, height: H, codec: 'jpeg' }, bytes: await r.jpeg() });
    await sleep(1000 / FPS);
  }
  for (let i = 0; i < 200 && encoded.length < frames - 5; i++) await sleep(50);
  enc.stop();
  const h264 = encoded.map((f, i) => ({
    meta: { seq: i, capturedAt: f.capturedAt, width: W, height: H, codec: 'h264', key: f.key, ...(f.key && f.config ? { config: f.config } : {}) } as FrameMeta,
    bytes: f.au,
  }));
  // A looped drive must start on a key frame.
  const firstKey = h264.findIndex((p) => 'key' in p.meta && p.meta.key);
  return { h264: h264.slice(firstKey), jpeg };
}

/**
 * One drive of `minutes`, paced a second of drive time at a time (each second's messages are handed over, then the
 * writer is let catch up), so the queue holds what a real second would. `each` runs after every simulated minute.
 */
async function drive(codec: 'h264' | 'jpeg', pictures: Picture[], minutes: number, each?: (minute: number) => void): Promise<{ path: string; bytes: number; seconds: number }> {
  const path = join(work, `${codec}-${minutes}min.mcap`);
  rmSync(path, { force: true });
  const rec = await DriveRecording.create(path, { vehicle: 'bench', driver: 'bench' });
  const t0 = Date.now();
  const started = performance.now();
  rec.event({ kind: 'acquire', by: 'bench' }, t0);
  let frame = 0;
  let seq = 0;
  for (let s = 0; s < minutes * 60; s++) {
    const base = t0 + s * 1000;
    for (let i = 0; i < FPS; i++) {
      const p = pictures[frame++ % pictures.length];
      // Each pass over the loop renumbers the frames: sequence numbers rise as the relay's do.
      rec.frame({ ...p.meta, seq: frame } as FrameMeta, p.bytes, base + (i * 1000) / FPS);
    }
    for (let i = 0; i < CONTROL_HZ; i++) {
      const at = base + (i * 1000) / CONTROL_HZ;
      const c = { seq: ++seq, throttle: Math.sin(seq / 50), steer: Math.cos(seq / 70) * 0.5, sentAt: at - 2, driverId: '00000000-0000-4000-8000-000000000000', driver: 'bench' };
      rec.controlReceived(c, at);
      rec.controlForwarded(c, at + 0.2);
      rec.controlAck({ seq, rttMs: 3.25 }, at + 4);
    }
    for (let i = 0; i < TELEMETRY_HZ; i++) rec.telemetry({ speed: 3.1, heading: (s * 7) % 360, x: s, y: i, battery: 99 - s / 1000, throttle: 0.5, steer: 0.1, estopped: false, lastSeq: seq }, base + (i * 1000) / TELEMETRY_HZ);
    await rec.flushed();
    if ((s + 1) % 60 === 0) each?.((s + 1) / 60);
  }
  rec.event({ kind: 'end', reason: 'released' }, t0 + minutes * 60_000);
  const bytes = await rec.close();
  return { path, bytes, seconds: (performance.now() - started) / 1000 };
}

/** Reads a file as Foxglove does: the indexed reader, every chunk's and the data section's CRC checked. */
async function check(path: string): Promise<{ ok: boolean; schemas: string[]; messages: number; chunks: number; why?: string }> {
  const bytes = readFileSync(path);
  try {
    const reader = await McapIndexedReader.Initialize({ readable: { size: async () => BigInt(bytes.length), read: async (o, n) => bytes.subarray(Number(o), Number(o + n)) } });
    let messages = 0;
    for await (const _ of reader.readMessages({ validateCrcs: true })) messages++;
    const stream = new McapStreamReader({ validateCrcs: true });
    stream.append(bytes);
    let records = 0;
    while (stream.nextRecord()) records++;
    if (!stream.done()) throw new Error('the stream reader did not reach the footer');
    if (Number(reader.statistics?.messageCount ?? 0) !== messages) throw new Error('statistics disagree with the messages read');
    return { ok: records > 0, schemas: [...reader.schemasById.values()].map((s) => s.name).sort(), messages, chunks: reader.chunkIndexes.length };
  } catch (err) {
    return { ok: false, schemas: [], messages: 0, chunks: 0, why: (err as Error).message };
  }
}

const mb = (n: number) => round(n / 1048576);

/**
 * The relay thread's busy time (event-loop utilization) while `drives` drives are recorded for `seconds`, paced in
 * real time; `where` says where the writers run ('none': the same calls go nowhere, the baseline).
 */
async function relayThreadCost(where: 'none' | 'relay thread' | 'writer thread', drives: number, seconds: number): Promise<{ busyPct: number; cpuPct: number }> {
  const thread = new RecorderThread();
  const recs: (Recorder | null)[] = await Promise.all(
    Array.from({ length: drives }, (_, i) => {
      const path = join(work, `cost-${where.replace(' ', '-')}-${i}.mcap`);
      rmSync(path, { force: true });
      if (where === 'none') return null;
      return where === 'writer thread' ? thread.create(path, { drive: String(i) }) : DriveRecording.create(path, { drive: String(i) });
    }),
  );
  await sleep(200);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let seq = 0;
  for (let tick = 0; tick < seconds * CONTROL_HZ; tick++) {
    for (const rec of recs) {
      const at = Date.now();
      const c = { seq: ++seq, throttle: 0.5, steer: 0.1, sentAt: at, driverId: '00000000-0000-4000-8000-000000000000', driver: 'bench' };
      rec?.controlReceived(c, at);
      rec?.controlForwarded(c, at);
      rec?.controlAck({ seq, rttMs: 1.5 }, at);
      if (tick % 3 === 0) rec?.telemetry({ speed: 1, heading: 2, x: 3, y: 4, battery: 99 }, at);
    }
    const next = t0 + ((tick + 1) * 1000) / CONTROL_HZ;
    await sleep(Math.max(0, next - performance.now()));
  }
  const elu = performance.eventLoopUtilization(elu0);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - t0;
  await Promise.all(recs.map((r) => r?.close()));
  await thread.stop();
  return { busyPct: round(elu.utilization * 100), cpuPct: round(((cpu.user + cpu.system) / 1000 / wall) * 100) };
}

async function main(): Promise<void> {
  // BENCH_PARTS=cost or turns: only part 4 or 5, without encoding or the long drive.
  if (process.env.BENCH_PARTS === 'cost' || process.env.BENCH_PARTS === 'turns') {
    await (process.env.BENCH_PARTS === 'cost' ? relayCost() : driveTurns());
    return rmSync(work, { recursive: true, force: true });
  }
  out(`Encoding ${SOURCE_SECONDS} s of the simulator (${W}×${H}, ${FPS} fps): H.264 800k and JPEG q75…`);
  const pictures = await source();
  const perSecond = (list: Picture[]) => list.reduce((a, p) => a + p.bytes.length, 0) / (list.length / FPS);
  out(`  relayed video: H.264 ${round(perSecond(pictures.h264) / 1024)} KiB/s, JPEG ${round(perSecond(pictures.jpeg) / 1024)} KiB/s`);

  out('\n1. Bytes per minute of a drive');
  out('| codec | relayed video MB/min | recording MB/min | recording / video | wrote 1 min in |');
  out('|---|---|---|---|---|');
  const perMinute: Record<string, { video: number; recording: number; ratio: number }> = {};
  const checks: Record<string, Awaited<ReturnType<typeof check>>> = {};
  for (const codec of ['h264', 'jpeg'] as const) {
    const r = await drive(codec, pictures[codec], 1);
    const video = (perSecond(pictures[codec]) * 60) / 1e6;
    perMinute[codec] = { video: round(video), recording: round(r.bytes / 1e6), ratio: round(r.bytes / 1e6 / video) };
    out(`| ${codec} | ${round(video)} | ${round(r.bytes / 1e6)} | ×${round(r.bytes / 1e6 / video)} | ${round(r.seconds)} s |`);
    checks[codec] = await check(r.path);
  }

  out(`\n2. Memory while a ${LONG_MINUTES}-minute H.264 drive is written (after a GC each minute)`);
  gc();
  const start = process.memoryUsage();
  const samples: { minute: number; heapMb: number; rssMb: number; externalMb: number; fileMb: number }[] = [];
  const path = join(work, `h264-${LONG_MINUTES}min.mcap`);
  const long = await drive('h264', pictures.h264, LONG_MINUTES, (minute) => {
    gc();
    const m = process.memoryUsage();
    samples.push({ minute, heapMb: mb(m.heapUsed), rssMb: mb(m.rss), externalMb: mb(m.external + m.arrayBuffers), fileMb: mb(statSync(path).size) });
  });
  out('| minute | file MB | heap used MB | RSS MB | external + buffers MB |');
  out('|---|---|---|---|---|');
  for (const s of samples.filter((s) => s.minute === 1 || s.minute % 5 === 0)) out(`| ${s.minute} | ${s.fileMb} | ${s.heapMb} | ${s.rssMb} | ${s.externalMb} |`);
  const heap = samples.map((s) => s.heapMb);
  const rss = samples.map((s) => s.rssMb);
  out(`heap before ${mb(start.heapUsed)} MB; over the drive min ${Math.min(...heap)} / max ${Math.max(...heap)} MB; RSS min ${Math.min(...rss)} / max ${Math.max(...rss)} MB`);
  out(`file ${mb(long.bytes)} MB written in ${round(long.seconds)} s (${round((LONG_MINUTES * 60) / long.seconds)}× real time)`);
  checks[`h264 ${LONG_MINUTES} min`] = await check(long.path);

  out('\n3. Read back as Foxglove reads them (indexed reader + stream reader, CRCs validated)');
  for (const [name, c] of Object.entries(checks)) out(`- ${name}: ${c.ok ? 'valid' : `INVALID (${c.why})`} — ${c.messages} messages in ${c.chunks} chunks; schemas ${c.schemas.join(', ')}`);

  const relayThread = await relayCost();
  const turns = await driveTurns();
  writeFileSync(join(ROOT, 'bench/results/recording.json'), JSON.stringify({ at: new Date().toISOString(), sourceSeconds: SOURCE_SECONDS, perMinute, memory: { minutes: LONG_MINUTES, before: mb(start.heapUsed), samples, seconds: round(long.seconds) }, checks, relayThread, turns }, null, 2) + '\n');
  rmSync(work, { recursive: true, force: true });
  if (Object.values(checks).some((c) => !c.ok)) process.exitCode = 1;
}

async function relayCost() {
  const DRIVES = Number(process.env.BENCH_DRIVES ?? 50);
  out(`\n4. The relay thread's cost: ${DRIVES} drives recorded at once, 5 s, controls at ${CONTROL_HZ} Hz (×3 messages) + telemetry at 10 Hz`);
  out('| writers | relay thread busy % | its extra over nothing recorded | process CPU % (all threads) |');
  out('|---|---|---|---|');
  const cost: Record<string, { busyPct: number; cpuPct: number }> = {};
  for (const where of ['none', 'relay thread', 'writer thread', 'none', 'relay thread', 'writer thread'] as const) {
    const r = await relayThreadCost(where, DRIVES, 5);
    const base = cost.none?.busyPct ?? r.busyPct;
    if (where === 'none') cost.none = r;
    cost[where] = r;
    out(`| ${where === 'none' ? 'none (baseline)' : where} | ${r.busyPct} | ${where === 'none' ? '–' : `+${round(r.busyPct - base)} points`} | ${r.cpuPct} |`);
  }
  return { drives: DRIVES, ...cost };
}

/**
 * Part 5: a real server (SQLite in a temp dir, nothing else running in it) whose vehicles all have recording on; 50
 * drives begin and end at once, 3 times to warm up and 20 measured. Each drive is a row, a file, and the row
 * completed at its end. Statements are counted at the sqlite3 binding, every one the server sends (BEGIN and COMMIT
 * included).
 */
async function driveTurns() {
  const DRIVES = Number(process.env.BENCH_DRIVES ?? 50);
  const TURNS = 20;
  out(`\n5. Starting and ending recorded drives: ${DRIVES} at once, ${TURNS} times, in a server on SQLite`);
  let statements = 0;
  for (const k of ['run', 'all'] as const) {
    const proto = sqlite3.Database.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
    const send = proto[k];
    proto[k] = function (this: unknown, ...args: unknown[]) {
      statements++;
      return send.apply(this, args);
    };
  }
  const dir = join(work, 'server');
  const config = loadConfig({ DATA_DIR: dir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', ADMIN_EMAIL: 'bench@vicer.test', ADMIN_PASSWORD: 'bench-password-1', VICER_DEMO: '0', MAX_SOCKETS_PER_USER: '100000', MAX_SOCKETS_PER_ADDRESS: '1000000' });
  const app = await createApp(config);
  await listenAndSeed(app, config, { announce: () => undefined });
  const recordings = app.get(RecordingsService);
  const ids: string[] = [];
  for (let i = 0; i < DRIVES; i++) ids.push((await app.get(VehiclesService).create(`bench-${i}`)).id);
  for (const id of ids) await recordings.setEnabled(id, true);
  const perDrive: number[] = [];
  const sent: number[] = [];
  for (let turn = 0; turn < TURNS + 3; turn++) {
    const [cpu0, sent0] = [threadCpuMs(process.pid).main, statements];
    ids.forEach((id, i) => recordings.driveStarted(id, { userId: `driver-${i}`, name: `Driver ${i}` }));
    await Promise.all(ids.map((id) => recordings.driveEnded(id, 'released')));
    if (turn < 3) continue;
    perDrive.push((threadCpuMs(process.pid).main - cpu0) / DRIVES);
    sent.push((statements - sent0) / DRIVES);
  }
  await app.close();
  const result = { drives: DRIVES, turns: TURNS, mainThreadMsPerDrive: { median: round(median(perDrive)), min: round(Math.min(...perDrive)), max: round(Math.max(...perDrive)) }, statementsPerDrive: median(sent) };
  out('| main thread CPU per drive (median, min–max) | SQL statements per drive |');
  out('|---|---|');
  out(`| ${result.mainThreadMsPerDrive.median} ms (${result.mainThreadMsPerDrive.min}–${result.mainThreadMsPerDrive.max}) | ${result.statementsPerDrive} |`);
  return result;
}

main().catch((err) => {
  console.error(err);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
