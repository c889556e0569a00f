import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeFrameAck, encodeFrameMessage, RELAY_LIMITS } from '../src/protocol/index.js';
import { http, startServerProcess, stopProcess, type ServerProcess } from './helpers/process.js';
import { rawRelayClient, rssOf, type RawRelayClient } from './helpers/raw-socket.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import { connectPeer, fakeJpeg, sleep, type Peer } from './helpers/sockets.js';

const FRAME_BYTES = 100_000;
const FPS = 30;
const ATTACK_MS = 20_000;
const MB = 1024 * 1024;

/**
 * A watcher that stops reading its TCP socket and acknowledges frames it never read must not grow the server's
 * memory: the server bounds what it has written and not yet flushed per watcher, in bytes, and refuses acks for
 * frames it never sent. Run against the server as its own process, so the resident set is the server's alone.
 */
describe('a watcher that never reads and acknowledges blindly', () => {
  let dir: string;
  let server: ServerProcess;
  let admin: string;
  const closers: (() => void)[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vicer-blind-'));
    server = await startServerProcess({ DATA_DIR: dir, LOG_LEVEL: 'error' });
    admin = (await http(server.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.accessToken;
  });
  after(async () => {
    closers.forEach((c) => c());
    await stopProcess(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it(`${ATTACK_MS / 1000} s of 100 KB x 30 fps: RSS grows less than 20 MB, the honest watcher keeps every frame, the liars are skipped`, { timeout: 120_000 }, async (t) => {
    const v = await http(server.url, 'POST', '/api/vehicles', { token: admin, body: { name: 'blind-ack-rover' } });
    assert.equal(v.status, 201);
    const vehicleId: string = v.body.id;
    const made = await http(server.url, 'POST', '/api/users', { token: admin, body: { email: 'mallory@example.com', password: 'password-123', name: 'Mallory', role: 'user' } });
    assert.equal(made.status, 201);
    const mallory = (await http(server.url, 'POST', '/api/auth/login', { body: { email: 'mallory@example.com', password: 'password-123' } })).body.accessToken;

    const vehicle: Peer = await connectPeer(server.url, { vehicleToken: v.body.token });
    closers.push(() => vehicle.close());
    const honest: Peer = await connectPeer(server.url, { token: admin });
    closers.push(() => honest.close());
    let honestFrames = 0;
    honest.socket.on('frame', (m: { seq: number }) => {
      honestFrames++;
      honest.socket.io.engine.send(encodeFrameAck({ vehicleId, seq: m.seq }));
    });
    assert.equal((await honest.call('watch', { vehicleId })).ok, true);

    // Two liars: one acks seq 2^53-1 (frames never sent), one acks the newest seq the vehicle sent (guessed right).
    const liars: RawRelayClient[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await rawRelayClient(server.url, { token: mallory });
      closers.push(() => c.close());
      assert.equal((await c.call('watch', { vehicleId })).ok, true);
      liars.push(c);
    }

    let seq = 0;
    const sendFrame = () => vehicle.socket.io.engine.send(encodeFrameMessage({ seq, capturedAt: Date.now(), width: 640, height: 480, codec: 'jpeg' }, fakeJpeg(seq++, FRAME_BYTES)));
    const stream = setInterval(sendFrame, 1000 / FPS);
    closers.push(() => clearInterval(stream));

    // The second liar acks the newest frame from the start, so the server's credit says it keeps up: only the byte
    // bound can stop it once it stops reading.
    const lies = setInterval(() => {
      liars[0].sendBinary(encodeFrameAck({ vehicleId, seq: Number.MAX_SAFE_INTEGER }));
      liars[1].sendBinary(encodeFrameAck({ vehicleId, seq: Math.max(0, seq - 1) }));
    }, 10);
    closers.push(() => clearInterval(lies));
    // Warm up to the steady state, then the baseline.
    await sleep(3000);
    const baseline = await rssOf(server.child.pid!);
    const honestBefore = honestFrames;
    const seqBefore = seq;
    const sentBefore = (await http(server.url, 'GET', `/api/vehicles/${vehicleId}/stats`, { token: admin })).body.watchers.find((w: { name: string; sent: number }) => w.name === 'Mallory' && w.sent > 10)?.sent;
    assert.ok(sentBefore > 10, 'the acking liar was sent frames while it read');

    for (const c of liars) c.pause();
    let peak = baseline;
    const until = Date.now() + ATTACK_MS;
    while (Date.now() < until) {
      await sleep(1000);
      peak = Math.max(peak, await rssOf(server.child.pid!));
    }
    clearInterval(lies);
    clearInterval(stream);
    const sent = seq - seqBefore;
    const received = honestFrames - honestBefore;
    await sleep(300);

    const stats = (await http(server.url, 'GET', `/api/vehicles/${vehicleId}/stats`, { token: admin })).body;
    const liarStats = stats.watchers.filter((w: { name: string }) => w.name === 'Mallory');
    t.diagnostic(
      `# baseline RSS ${(baseline / MB).toFixed(1)} MB, peak ${(peak / MB).toFixed(1)} MB (+${((peak - baseline) / MB).toFixed(1)} MB); ` +
        `honest watcher ${received} of ${sent} frames; liars ${JSON.stringify(liarStats)}`,
    );
    assert.ok(peak - baseline < 20 * MB, `RSS grew ${((peak - baseline) / MB).toFixed(1)} MB`);
    assert.ok(received >= sent - RELAY_LIMITS.creditWindow - 2, `the honest watcher got ${received} of ${sent} frames`);
    assert.equal(liarStats.length, 2);
    for (const w of liarStats) assert.ok(w.skipped > sent / 2, `a liar was skipped ${w.skipped} times of ${sent}`);
    const acking = liarStats.find((w: { sent: number }) => w.sent > 10);
    // What it was still sent filled the kernel's socket buffers (send and receive, several MB on loopback); after that
    // the server's own bound stopped it.
    assert.ok(acking.sent - sentBefore < sent / 4, `the acking liar was sent ${acking.sent - sentBefore} of ${sent} frames after it stopped reading`);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /vicer_frame_acks_refused_total\{[^}]*\} [1-9]/, 'acks for frames never sent are counted as refused');
  });
});
