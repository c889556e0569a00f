// npm run bench:video — H.264 against JPEG on the same sources, in one run:
//   1. bytes per second per viewer, and the picture's quality (SSIM against the source, by ffmpeg);
//   2. glass-to-glass in Chromium on loopback: capture time read back from the drawn canvas (the simulator's time code);
//   3. the same viewer behind a shaped link (4 Mbit/s, 40 ms each way): delivered fps and latency;
//   4. server CPU per delivered frame at 50 and 200 watchers, vicer against the raw ws relay, with vicer's profile.
// Prints tables, writes bench/results/video.json. Needs ffmpeg with libx264 and Chromium (/usr/bin/chromium).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from '@playwright/test';
import WebSocket from 'ws';
import { ROOT } from '../backend/src/config/paths.js';
import { H264Encoder, toAnnexB, type EncodedFrame } from '../apps/vehicle/h264.js';
import { SimCar, SimRenderer } from '../apps/vehicle/sim.js';
import { JpegFromRaw } from '../apps/vehicle/sources.js';
import { readTimecodeRow, timecodeRow } from '../apps/vehicle/timecode.js';
import { cpuSeconds, freePort, median, out, round, sleep, summary } from './measure.js';
import { startShapingProxy } from './shaping-proxy.js';
import { fanoutRun, rawWsTarget, startVicer, vicerTarget, watcherChild, type BenchFrame, type Target, type VicerServer } from './targets.js';

const W = 640;
const H = 480;
const FPS = 30;
const BITRATE = process.env.BENCH_BITRATE ?? '800k';
/** H.264 bitrates tried against the same frames, to find where it matches JPEG's picture. */
const LADDER = ['250k', '400k', BITRATE];
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
/** Turns of the CPU comparison (BENCH_ROUNDS): each takes every cell on both relays. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const FANOUT = (process.env.BENCH_WATCHERS ?? '50,200').split(',').map(Number);
/** How long each relay serves the largest fan-out before the CPU cells are measured, in seconds (BENCH_WARMUP). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP ?? 150);
/** BENCH_SYSCALLS=1: also count the servers' system calls per delivered frame (strace, at the largest fan-out). */
const SYSCALLS = process.env.BENCH_SYSCALLS === '1';
/** BENCH_PERF=1: also sample each server's stacks, kernel included, with Linux `perf` at the largest fan-out. */
const PERF = process.env.BENCH_PERF === '1';
const TESTSRC = `testsrc2=size=${W}x${H}:rate=${FPS}`;
const SHAPE = { rateBps: 4_000_000, delayMs: 40 };
const work = mkdtempSync(join(tmpdir(), 'vicer-video-bench-'));

// ---- 1. bytes and quality -------------------------------------------------------------------------------------------

interface Encoded {
  /** Per bitrate of the ladder. Each access unit's capturedAt is the index of its source frame (an encoder that falls behind skips frames). */
  h264: Map<string, EncodedFrame[]>;
  jpeg: { bytes: Buffer; index: number }[];
  /** The source frames, raw, for SSIM. */
  raws: Buffer[];
  pixFmt: 'rgba' | 'yuv420p';
}

/** One H.264 encoder per bitrate of the ladder, all fed the same frames. */
function ladder(pixelFormat: 'rgba' | 'yuv420p') {
  const h264 = new Map<string, EncodedFrame[]>();
  const encoders = LADDER.map((bitrate) => {
    const list: EncodedFrame[] = [];
    h264.set(bitrate, list);
    return new H264Encoder({ width: W, height: H, fps: FPS, bitrate, pixelFormat }, (f) => list.push(f), (why) => fail(why));
  });
  return { h264, enc: { encode: (raw: Buffer, i: number) => encoders.forEach((e) => e.encode(raw, i)), stop: () => encoders.forEach((e) => e.stop()) } };
}

/** The simulator driving a curve, rendered as the agent renders it (RGBA into H.264, its own JPEG at quality 75). */
async function encodeSim(frames: number): Promise<Encoded> {
  const car = new SimCar();
  const r = new SimRenderer(W, H);
  const jpeg: Encoded['jpeg'] = [];
  const raws: Buffer[] = [];
  const { h264, enc } = ladder('rgba');
  car.command(0.6, 0.4);
  for (let i = 0; i < frames; i++) {
    car.step(1 / FPS);
    r.draw(car, { seq: i, estopped: false, connected: true, name: 'bench' }, 1_700_000_000_000 + i * 33);
    const rgba = Buffer.from(r.rgba());
    raws.push(rgba);
    enc.encode(rgba, i);
    jpeg.push({ bytes: await r.jpeg(), index: i });
    await sleep(1000 / FPS);
  }
  await settled(() => [...h264.values()].reduce((a, l) => a + l.length, 0));
  enc.stop();
  return { h264, jpeg, raws, pixFmt: 'rgba' };
}

/** ffmpeg's testsrc2 (fine detail, colour, motion), through the agent's own encoders for camera input. */
async function encodeTestsrc(frames: number): Promise<Encoded> {
  const g = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', TESTSRC, '-frames:v', String(frames), '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], { maxBuffer: 1 << 30 });
  if (g.status !== 0) fail(`ffmpeg testsrc2: ${g.stderr}`);
  const size = (W * H * 3) / 2;
  const raws = Array.from({ length: frames }, (_, i) => g.stdout.subarray(i * size, (i + 1) * size));
  const jpeg: Encoded['jpeg'] = [];
  const { h264, enc } = ladder('yuv420p');
  const mj = new JpegFromRaw(W, H, FPS, (bytes, index) => jpeg.push({ bytes, index }));
  for (let i = 0; i < frames; i++) {
    enc.encode(raws[i], i);
    mj.write(raws[i], i);
    await sleep(1000 / FPS);
  }
  await settled(() => [...h264.values()].reduce((a, l) => a + l.length, jpeg.length));
  enc.stop();
  mj.stop();
  return { h264, jpeg, raws, pixFmt: 'yuv420p' };
}

/** SSIM of an encoded stream against the source frames, by ffmpeg (all planes, averaged over the frames). */
function ssim(reference: string, pixFmt: string, encoded: string, format: 'h264' | 'mjpeg'): number {
  const r = spawnSync(
    'ffmpeg',
    ['-hide_banner', '-f', 'rawvideo', '-pix_fmt', pixFmt, '-s', `${W}x${H}`, '-r', String(FPS), '-i', reference, '-f', format, '-r', String(FPS), '-i', encoded, '-lavfi', '[0:v]format=yuv420p[a];[1:v]format=yuv420p[b];[a][b]ssim=shortest=1', '-f', 'null', '-'],
    { encoding: 'utf8' },
  );
  const m = /All:([\d.]+)/.exec(r.stderr);
  if (!m) fail(`ffmpeg ssim: ${r.stderr.slice(-500)}`);
  return Number(m![1]);
}

async function quality() {
  const frames = SECONDS * FPS;
  const rows = [];
  for (const [source, make] of [
    ['simulator', encodeSim],
    ['testsrc2', encodeTestsrc],
  ] as const) {
    const e = await make(frames);
    const seconds = frames / FPS;
    // Bytes per second of video as sent: the mean encoded frame, at the source's frame rate.
    const perSecond = (sizes: number[]) => Math.round((sizes.reduce((a, b) => a + b, 0) / sizes.length) * FPS);
    const jpegFile = join(work, `${source}.mjpeg`);
    writeFileSync(jpegFile, Buffer.concat(e.jpeg.map((j) => j.bytes)));
    // Each stream is compared with the source frames it was made from.
    const jpegRef = join(work, `${source}.jpeg.ref`);
    writeFileSync(jpegRef, Buffer.concat(e.jpeg.map((j) => e.raws[j.index])));
    const jpeg = { bytesPerSecond: perSecond(e.jpeg.map((j) => j.bytes.length)), ssim: round4(ssim(jpegRef, e.pixFmt, jpegFile, 'mjpeg')), frames: e.jpeg.length, meanFrameKiB: round(e.jpeg.reduce((a, j) => a + j.bytes.length, 0) / e.jpeg.length / 1024) };
    const h264 = [...e.h264.entries()].map(([bitrate, list]) => {
      const file = join(work, `${source}.${bitrate}.h264`);
      writeFileSync(file, Buffer.concat(list.map((f) => toAnnexB(f.au, f.key ? f.config : undefined))));
      const ref = join(work, `${source}.${bitrate}.ref`);
      writeFileSync(ref, Buffer.concat(list.map((f) => e.raws[f.capturedAt])));
      const bytesPerSecond = perSecond(list.map((f) => f.au.length));
      return { bitrate, bytesPerSecond, ssim: round4(ssim(ref, e.pixFmt, file, 'h264')), frames: list.length, keyFrames: list.filter((f) => f.key).length, ratio: round4(bytesPerSecond / jpeg.bytesPerSecond) };
    });
    // The quality bar: the cheapest rung with SSIM ≥ 0.95 (the same measure JPEG is given; JPEG's own is reported).
    const matched = h264.find((r) => r.ssim >= 0.95) ?? h264[h264.length - 1];
    rows.push({ source, frames, seconds, jpeg, h264, matched: matched.bitrate });
    out(`bytes    ${source.padEnd(9)}  jpeg ${kbps(jpeg.bytesPerSecond)} kb/s (SSIM ${jpeg.ssim}, ${jpeg.meanFrameKiB} KiB a frame)`);
    for (const r of h264) out(`         ${''.padEnd(9)}  h264 at ${r.bitrate.padEnd(4)} ${kbps(r.bytesPerSecond)} kb/s (SSIM ${r.ssim})  = 1/${round(1 / r.ratio)} of jpeg${r === matched ? '  ← cheapest at SSIM ≥ 0.95' : ''}`);
  }
  return rows;
}

// ---- 2 and 3. Chromium: glass-to-glass, and behind a shaped link ----------------------------------------------------

function startAgent(server: VicerServer, codec: 'h264' | 'jpeg', source: string): ChildProcess {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'dist/node/apps/vehicle/main.js'), '--server', server.base, '--token', server.vehicles[0].token, '--codec', codec, '--bitrate', BITRATE, '--source', source, '--name', 'bench'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  child.stderr!.on('data', () => undefined);
  return child;
}

async function stopAgent(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

/** Signs in through the web app at `base` and opens the bench vehicle; records every frame the page draws. */
async function viewer(browser: Browser, base: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await page.goto(base + '/login');
  await page.getByLabel('Email').fill('admin@vicer.local');
  await page.getByLabel('Password').fill('bench-password-1');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/drive/);
  await page.getByRole('option', { name: 'bench-0' }).click();
  await page.getByLabel('Video stats').filter({ hasText: /[1-9]\d* fps/ }).waitFor({ timeout: 30_000 });
  // Runs in the page (no DOM types here: the bench compiles with the server's settings).
  await page.evaluate((row) => {
    const w = globalThis as any;
    const c = w.document.querySelector('canvas[aria-label="Live video"]');
    const g = c.getContext('2d', { willReadFrequently: true });
    w.__drawn = [];
    w.__recording = false;
    c.addEventListener('framedrawn', (e: any) => {
      if (!w.__recording) return;
      // The row through the time code, only as far as the code reaches.
      w.__drawn.push({ ...e.detail, row: Array.from(g.getImageData(0, row, 480, 1).data) });
    });
  }, timecodeRow(H));
  return page;
}

async function record(page: Page, seconds: number) {
  await page.evaluate(() => ((globalThis as any).__recording = true));
  await sleep(seconds * 1000);
  const drawn = (await page.evaluate(() => {
    const w = globalThis as any;
    w.__recording = false;
    return w.__drawn.splice(0);
  })) as { codec: string; seq: number; capturedAt: number; drawnAt: number; row: number[] }[];
  const glass: number[] = [];
  let unreadable = 0;
  for (const d of drawn) {
    const t = readTimecodeRow(d.row, d.drawnAt);
    if (t === null) unreadable++;
    else glass.push(d.drawnAt - t);
  }
  return {
    codec: drawn[0]?.codec ?? 'none',
    fps: round(drawn.length / seconds),
    /** Capture (time code in the pixels) → drawn, both in server time. */
    glassToGlass: summary(glass),
    /** Capture stamp (frame meta) → drawn. */
    stampToDrawn: summary(drawn.map((d) => d.drawnAt - d.capturedAt)),
    unreadable,
  };
}

async function browserRuns(browser: Browser) {
  const server = await startVicer(1);
  const results: any = { loopback: [], shaped: [] };
  try {
    for (const codec of ['h264', 'jpeg'] as const) {
      const agent = startAgent(server, codec, 'sim');
      const page = await viewer(browser, server.base);
      await sleep(1500);
      const r = await record(page, SECONDS);
      results.loopback.push({ source: 'simulator', ...r });
      out(`glass    loopback ${codec.padEnd(4)} ${r.fps} fps  glass-to-glass p50 ${r.glassToGlass.p50} ms p95 ${r.glassToGlass.p95} ms (${r.glassToGlass.samples} frames read, ${r.unreadable} unreadable)`);
      await page.context().close();
      await stopAgent(agent);
    }
    const proxy = await startShapingProxy(server.port, SHAPE);
    for (const [source, label] of [
      ['sim', 'simulator'],
      [`ffmpeg:lavfi:${TESTSRC}`, 'testsrc2'],
    ] as const) {
      for (const codec of ['h264', 'jpeg'] as const) {
        const agent = startAgent(server, codec, source);
        const page = await viewer(browser, `http://127.0.0.1:${proxy.port}`);
        await sleep(3000); // the link's queue settles
        const bytes0 = proxy.bytesDown();
        const r = await record(page, SECONDS);
        const kbps = Math.round(((proxy.bytesDown() - bytes0) * 8) / SECONDS / 1000);
        const latency = label === 'simulator' ? r.glassToGlass : r.stampToDrawn;
        results.shaped.push({ source: label, codec: r.codec, fps: r.fps, latency, linkKbps: kbps });
        out(`shaped   ${label.padEnd(9)} ${codec.padEnd(4)} ${r.fps} fps  latency p50 ${latency.p50} ms p95 ${latency.p95} ms  link ${kbps} kb/s of ${SHAPE.rateBps / 1000}`);
        await page.context().close();
        await stopAgent(agent);
      }
    }
    proxy.server.close();
  } finally {
    await server.stop();
  }
  return results;
}

// ---- 4. server CPU per delivered frame ------------------------------------------------------------------------------

/**
 * Waits until the watchers of the last cell are gone from the server's books: vicer closes each one's connection
 * row, tells admins and updates presence, which must not land in the next cell's measurement.
 */
async function settle(pid: number): Promise<void> {
  let last = cpuSeconds(pid);
  for (let i = 0; i < 20; i++) {
    await sleep(500);
    const now = cpuSeconds(pid);
    if (now - last < 0.0051) return; // under 1 % of a core over the last half second
    last = now;
  }
}

const syscallRows: { target: string; watchers: number; perFrame: { name: string; perFrame: number }[] }[] = [];

/** System calls of a process's main thread over `seconds`, by name (strace -c). */
async function syscalls(pid: number, seconds: number): Promise<Record<string, number>> {
  const st = spawn('strace', ['-c', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  st.stderr.on('data', (d) => (text += d));
  await sleep(seconds * 1000);
  st.kill('SIGINT');
  await new Promise((r) => st.once('close', r));
  const counts: Record<string, number> = {};
  // "% time  seconds  usecs/call  calls  errors  syscall"
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[4] !== 'total') {
      counts[m[4]] = Number(m[3]);
      if (process.env.BENCH_SYSCALLS_TIME) out(`         ${m[4]}: ${m[3]} calls, ${m[2]} µs each in the kernel`);
    }
  }
  return counts;
}

/**
 * vicer against the raw ws relay. A machine shared with others drifts between minutes more than the two differ, so both
 * run side by side (the one not measured is idle) and take every cell in turns, `ROUNDS` times, which one goes first
 * alternating; each cell's figure is the median of its turns.
 */
async function cpuRuns(frames: BenchFrame[]) {
  const targets: Target[] = [await rawWsTarget(), await vicerTarget(2)];
  const top = Math.max(...FANOUT);
  // Warm-up, discarded: a server runs for hours, and code run 30 times a second needs a while to be optimized.
  // vicer's cost per frame kept falling for about two minutes after the stream started (docs/performance.md).
  for (let s = 0; s < WARMUP_SECONDS; s += 30) {
    for (const target of targets) {
      const q0 = await queuedFrames(target);
      const w = await fanoutRun(target, top, 30, frames, false);
      const share = await queuedShare(target, q0, w.deliveredPerSecond * 31);
      const queued = share === undefined ? '' : `, queued ${share} %`;
      out(`warm-up  ${target.name.padEnd(6)} ${String(s + 30).padStart(3)} s at ${top} watchers: server cpu ${w.cpuPct} %, per delivered frame ${w.cpuUsPerFrame} µs${queued}`);
    }
  }
  const cells: any[] = [];
  for (let turn = 1; turn <= ROUNDS; turn++) {
    for (const target of turn % 2 ? targets : [...targets].reverse()) {
      await settle(target.pid());
      // What the server spends with the vehicle streaming and nobody watching (timers, the vehicle's own traffic):
      // subtracted to get the cost that grows with each delivered frame.
      const idle = await fanoutRun(target, 0, SECONDS, frames, false);
      for (const n of FANOUT) {
        const q0 = await queuedFrames(target);
        const r = await fanoutRun(target, n, SECONDS, frames, false);
        // vicer: the share of frames that found their watcher's socket busy and went through Engine.IO's queue.
        const queuedPct = await queuedShare(target, q0, r.deliveredPerSecond * (SECONDS + 1));
        await settle(target.pid());
        const marginalUs = round((((r.cpuPct - idle.cpuPct) / 100) * 1e6) / r.deliveredPerSecond);
        cells.push({ turn, target: target.name, watchers: n, ...r, idleCpuPct: idle.cpuPct, marginalUsPerFrame: marginalUs, queuedPct, controlUnderLoad: undefined });
        out(`cpu      turn ${turn} ${target.name.padEnd(6)} ${String(n).padStart(3)} watchers  ${r.deliveredFpsMin}/${r.sourceFps} fps  server cpu ${r.cpuPct} % (kernel ${r.systemCpuPct} %; idle ${idle.cpuPct} %; watchers' process ${r.watchersCpuPct} %)  per delivered frame ${r.cpuUsPerFrame} µs, above idle ${marginalUs} µs  latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms${queuedPct === undefined ? '' : `  queued ${queuedPct} %`}`);
      }
    }
  }
  const rows = [];
  for (const target of targets)
    for (const n of FANOUT) {
      const mine = cells.filter((c) => c.target === target.name && c.watchers === n);
      const row = { target: target.name, watchers: n, cpuUsPerFrame: median(mine.map((c) => c.cpuUsPerFrame)), marginalUsPerFrame: median(mine.map((c) => c.marginalUsPerFrame)), turns: mine };
      rows.push(row);
      out(`cpu      ${target.name.padEnd(6)} ${String(n).padStart(3)} watchers, median of ${mine.length} turns: per delivered frame ${row.cpuUsPerFrame} µs, above idle ${row.marginalUsPerFrame} µs`);
    }
  for (const target of targets) {
    if (SYSCALLS) {
      // A separate run under strace (which slows the server): how many system calls each delivered frame costs.
      const n = top;
      let counted: Record<string, number> = {};
      const r = await fanoutRun(target, n, SECONDS, frames, false, async () => {
        counted = await syscalls(target.pid(), SECONDS - 1);
      });
      const perFrame = Object.entries(counted)
        .map(([name, calls]) => ({ name, perFrame: round(calls / ((r.deliveredPerSecond * (SECONDS - 1)) || 1)) }))
        .sort((a, b) => b.perFrame - a.perFrame)
        .slice(0, 6);
      syscallRows.push({ target: target.name, watchers: n, perFrame });
      out(`syscalls ${target.name.padEnd(6)} ${String(n).padStart(3)} watchers, per delivered frame: ${perFrame.map((x) => `${x.name} ${x.perFrame}`).join(', ')}`);
    }
    if (PERF) {
      const n = top;
      let hot: { share: number; dso: string; symbol: string }[] = [];
      await fanoutRun(target, n, SECONDS, frames, false, async () => {
        hot = await perfTop(target.pid(), SECONDS - 1);
      });
      perfRows.push({ target: target.name, watchers: n, top: hot });
      out(`perf     ${target.name.padEnd(6)} ${n} watchers, where the server's samples fell:`);
      for (const x of hot) out(`         ${String(x.share).padStart(5)} %  ${x.symbol} (${x.dso})`);
    }
  }
  for (const target of targets) await target.stop();
  return rows;
}

const perfRows: { target: string; watchers: number; top: { share: number; dso: string; symbol: string }[] }[] = [];

/**
 * Where a process's CPU time falls over `seconds`, by function, kernel included (perf record at 999 Hz). JIT-compiled
 * JavaScript has no symbols here and shows as one anonymous bucket; the V8 profile names those.
 */
async function perfTop(pid: number, seconds: number) {
  // BENCH_PERF_DIR keeps the recording (with call graphs) for `perf report -i`.
  const file = join(process.env.BENCH_PERF_DIR ?? work, `perf-${pid}.data`);
  const rec = spawn('perf', ['record', '-g', '-F', '999', '-p', String(pid), '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  await new Promise((r) => rec.once('close', r));
  const rep = spawnSync('perf', ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '--stdio'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const top = [];
  for (const line of rep.stdout.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$/.exec(line);
    if (m) top.push({ share: Number(m[1]), dso: m[2], symbol: m[3] });
    if (top.length === 25) break;
  }
  return top;
}

/** vicer's count of frames sent through Engine.IO's queue (`vicer_frames_queued_total`); null for other relays. */
async function queuedFrames(target: Target): Promise<number | null> {
  const d = target.descriptor;
  if (d.kind !== 'vicer') return null;
  const text = await (await fetch(`${d.base}/metrics`)).text();
  return Number(/^vicer_frames_queued_total(?:\{[^}]*\})? (\S+)$/m.exec(text)?.[1] ?? NaN);
}

/**
 * The share of frames, in %, that went through Engine.IO's queue since the count was `q0`, of `delivered` (the
 * run's frames including its lead-in second); undefined for relays that do not count them.
 */
async function queuedShare(target: Target, q0: number | null, delivered: number): Promise<number | undefined> {
  if (q0 === null) return undefined;
  return round((((await queuedFrames(target))! - q0) / Math.max(1, delivered)) * 100);
}

/** A V8 CPU profile of a running node process (started with --inspect), taken over the DevTools protocol. */
async function profiler(inspectPort: number) {
  const list = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<any>((resolve) => {
      const my = ++id;
      const onMessage = (d: Buffer) => {
        const m = JSON.parse(d.toString());
        if (m.id !== my) return;
        ws.off('message', onMessage);
        resolve(m.result);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id: my, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  return {
    start: () => call('Profiler.start'),
    async stop() {
      const { profile } = await call('Profiler.stop');
      ws.close();
      return profile as { nodes: { id: number; callFrame: { functionName: string; url: string } }[]; samples: number[] };
    },
  };
}

/** vicer at the largest fan-out, profiled while the frames flow: where its CPU goes, by package and by function. */
async function profile(frames: BenchFrame[]) {
  const inspectPort = await freePort();
  process.env.BENCH_SERVER_FLAGS = `--inspect=127.0.0.1:${inspectPort}`;
  const target = await vicerTarget(2);
  delete process.env.BENCH_SERVER_FLAGS;
  const prof = await profiler(inspectPort);
  const n = Number(process.env.BENCH_PROFILE_AT ?? Math.max(...FANOUT));
  // The steady state is profiled, as it is measured: after the same warm-up.
  await fanoutRun(target, Math.max(...FANOUT), WARMUP_SECONDS, frames, false);
  await settle(target.pid());
  let p!: Awaited<ReturnType<typeof prof.stop>>;
  await fanoutRun(target, n, SECONDS, frames, false, async () => {
    await prof.start();
    await sleep((SECONDS - 0.5) * 1000);
    p = await prof.stop();
  });
  // BENCH_PROFILE_FILE: the whole profile, to open in DevTools.
  if (process.env.BENCH_PROFILE_FILE) writeFileSync(process.env.BENCH_PROFILE_FILE, JSON.stringify(p));
  await target.stop();
  const byNode = new Map(p.nodes.map((x) => [x.id, x]));
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  let busy = 0;
  for (const sid of p.samples) {
    const { functionName, url } = byNode.get(sid)!.callFrame;
    if (functionName === '(idle)') continue;
    busy++;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? (url.includes('/dist/node/') ? 'vicer' : url.startsWith('node:') ? 'node core' : `(${functionName || 'native'})`);
    groups.set(pkg, (groups.get(pkg) ?? 0) + 1);
    const fn = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^.*dist\/node\//, '')}`.trim();
    fns.set(fn, (fns.get(fn) ?? 0) + 1);
  }
  const top = (m: Map<string, number>, k: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([name, c]) => ({ name, pctOfBusy: round((c / busy) * 100) }));
  const result = { watchers: n, packages: top(groups, 10), functions: top(fns, 15) };
  out(`profile  vicer at ${n} watchers, share of its busy CPU (self time):`);
  for (const x of result.packages) out(`           ${String(x.pctOfBusy).padStart(5)} %  ${x.name}`);
  out('         top functions:');
  for (const x of result.functions) out(`           ${String(x.pctOfBusy).padStart(5)} %  ${x.name}`);
  return result;
}

// ---- main -----------------------------------------------------------------------------------------------------------

function fail(why: string): never {
  throw new Error(why);
}
const round4 = (n: number) => Math.round(n * 10000) / 10000;
const kbps = (bytesPerSecond: number) => Math.round((bytesPerSecond * 8) / 1000);
/** Waits until a count stops growing (an encoder has put out what it was given). */
async function settled(count: () => number) {
  for (let last = -1; count() !== last; ) {
    last = count();
    await sleep(500);
  }
}

async function main() {
  out(`vicer video benchmark — ${cpus().length} cores, node ${process.version}, ${W}×${H} at ${FPS} fps, H.264 at ${BITRATE}, ${SECONDS} s per cell`);
  const only = process.env.BENCH_PARTS?.split(',');
  const want = (p: string) => !only || only.includes(p);
  const results: any = { date: new Date().toISOString(), cores: cpus().length, node: process.version, bitrate: BITRATE, seconds: SECONDS };
  const load0 = cpuSeconds(process.pid);
  if (want('bytes')) results.bytes = await quality();
  if (want('browser')) {
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    try {
      Object.assign(results, await browserRuns(browser));
    } finally {
      await browser.close();
    }
  }
  if (want('cpu') || want('profile')) {
    // The same H.264 stream for both relays: two seconds of testsrc2 (one group of pictures), cycled.
    const e = await encodeTestsrc(2 * FPS);
    const frames: BenchFrame[] = e.h264.get(BITRATE)!.map((f) => ({ codec: 'h264', bytes: f.au, key: f.key, ...(f.key ? { config: f.config } : {}) }));
    // BENCH_PARTS=profile: vicer's profile alone (BENCH_PROFILE_AT watchers), without the comparison.
    if (want('cpu')) results.cpu = await cpuRuns(frames);
    if (syscallRows.length) results.syscalls = syscallRows;
    if (perfRows.length) results.perf = perfRows;
    results.profile = await profile(frames);
  }
  results.verdicts = verdicts(results);
  out('\nTargets');
  for (const v of results.verdicts) out(`  ${v.ok ? 'met   ' : 'MISSED'} ${v.what}: ${v.detail}`);
  // A run of some parts only does not overwrite the full run's results.
  const file = `bench/results/video${process.env.BENCH_PARTS ? '.' + process.env.BENCH_PARTS.replace(/[^a-z,]/g, '').split(',').join('.') : ''}.json`;
  writeFileSync(join(ROOT, file), JSON.stringify(results, null, 2) + '\n');
  out(`\nwrote ${file} (bench process cpu ${round(cpuSeconds(process.pid) - load0)} s)`);
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
}

function verdicts(r: any) {
  const v: { what: string; ok: boolean; detail: string }[] = [];
  for (const b of r.bytes ?? []) {
    const m = b.h264.find((x: any) => x.bitrate === b.matched);
    v.push({ what: `${b.source}: h264 ≤ 1/5 of jpeg at SSIM ≥ 0.95`, ok: m.ratio <= 0.2 && m.ssim >= 0.95, detail: `1/${round(1 / m.ratio)} at ${m.bitrate}: SSIM ${m.ssim} (jpeg ${b.jpeg.ssim})` });
    const d = b.h264.find((x: any) => x.bitrate === BITRATE);
    if (d) v.push({ what: `${b.source}: at the agent's default ${BITRATE}, h264 ≤ 1/5 of jpeg`, ok: d.ratio <= 0.2, detail: `1/${round(1 / d.ratio)}: SSIM ${d.ssim} (jpeg ${b.jpeg.ssim})` });
  }
  const g = (r.loopback ?? []).find((x: any) => x.codec === 'h264');
  if (g) v.push({ what: 'glass-to-glass p50 ≤ 50 ms for h264 (loopback)', ok: g.glassToGlass.p50 <= 50, detail: `${g.glassToGlass.p50} ms (p95 ${g.glassToGlass.p95} ms)` });
  for (const s of (r.shaped ?? []).filter((x: any) => x.codec === 'h264'))
    v.push({ what: `${s.source} behind 4 Mbit/s + 40 ms: h264 ≥ 28 fps, p95 ≤ 150 ms`, ok: s.fps >= 28 && s.latency.p95 <= 150, detail: `${s.fps} fps, p95 ${s.latency.p95} ms` });
  for (const n of FANOUT) {
    const vi = (r.cpu ?? []).find((x: any) => x.target === 'vicer' && x.watchers === n);
    const raw = (r.cpu ?? []).find((x: any) => x.target === 'raw ws' && x.watchers === n);
    if (vi && raw) {
      v.push({ what: `server CPU per delivered frame ≤ 2× raw ws at ${n} watchers`, ok: vi.cpuUsPerFrame <= 2 * raw.cpuUsPerFrame, detail: `${vi.cpuUsPerFrame} vs ${raw.cpuUsPerFrame} µs (×${round(vi.cpuUsPerFrame / raw.cpuUsPerFrame)})` });
      v.push({ what: `  the same above idle at ${n} watchers`, ok: vi.marginalUsPerFrame <= 2 * raw.marginalUsPerFrame, detail: `${vi.marginalUsPerFrame} vs ${raw.marginalUsPerFrame} µs (×${round(vi.marginalUsPerFrame / raw.marginalUsPerFrame)})` });
    }
  }
  return v;
}

(process.argv[2] === 'watchers' ? watcherChild() : main()).catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
