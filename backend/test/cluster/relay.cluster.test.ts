import assert from 'node:assert/strict';
import { McapIndexedReader } from '@mcap/core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCluster, type TestCluster } from '../helpers/cluster.js';
import { http, stopProcess } from '../helpers/process.js';
import { connectPeer, fakeJpeg, sleep, type Peer } from '../helpers/sockets.js';

const meta = (seq: number) => ({ seq, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' as const });
const control = (vehicleId: string, seq: number, throttle = 0.5) => ({ vehicleId, seq, throttle, steer: 0, sentAt: Date.now() });

/**
 * Three instances as separate processes, PostgreSQL, Redis and nginx in front: the vehicle on one instance, its
 * driver and watchers through nginx on the others, and every safety rule holding across them.
 */
describe('cluster: relay across instances (3 instances, nginx, Redis, PostgreSQL)', () => {
  let c: TestCluster;
  let admin: string;
  const peers: Peer[] = [];
  const track = (p: Peer) => (peers.push(p), p);
  const users: Record<string, { token: string; id: string }> = {};
  let n = 0;

  async function vehicleOn(instanceId: string) {
    const res = await http(c.nginx.url, 'POST', '/api/vehicles', { token: admin, body: { name: `c-rover-${++n}` } });
    assert.equal(res.status, 201);
    const peer = track(await c.direct(instanceId, { vehicleToken: res.body.token }));
    peer.socket.on('control', (cmd: { seq: number }) => peer.socket.emit('control:ack', { seq: cmd.seq }));
    return { id: res.body.id as string, token: res.body.token as string, peer };
  }
  const userOn = async (instanceId: string, name: string) => track(await c.socketOn(instanceId, { token: users[name].token }));

  /** The vehicle's latest recording once its drive has ended, downloaded through nginx and opened as Foxglove would. */
  async function finishedRecording(vehicleId: string) {
    let row;
    for (let i = 0; i < 100 && !row?.endedAt; i++) {
      row = (await http(c.nginx.url, 'GET', `/api/recordings?vehicleId=${vehicleId}`, { token: admin })).body.items[0];
      await sleep(50);
    }
    assert.ok(row?.endedAt, 'the drive ended and its row is complete');
    // Whichever instance answers reads the shared directory.
    const res = await fetch(`${c.nginx.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.status, 200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    return McapIndexedReader.Initialize({ readable: { size: async () => BigInt(bytes.length), read: async (o, n) => bytes.subarray(Number(o), Number(o + n)) } });
  }

  before(async () => {
    // One recordings directory for all three, as a deployment shares it (any instance serves any file).
    c = await startCluster({ env: { RECORDINGS_DIR: mkdtempSync(join(tmpdir(), 'vicer-cluster-rec-')) } });
    admin = await c.admin();
    for (const name of ['ann', 'ben', 'cat']) {
      await http(c.nginx.url, 'POST', '/api/auth/signup', { body: { email: `${name}@example.com`, password: 'password-123', name } });
      const l = await http(c.nginx.url, 'POST', '/api/auth/login', { body: { email: `${name}@example.com`, password: 'password-123' } });
      users[name] = { token: l.body.accessToken, id: l.body.user.id };
    }
    users.admin = { token: admin, id: '' };
  });
  after(async () => {
    for (const p of peers) p.close();
    await c?.stop();
  });

  it('vehicle on 1, driver on 2, watchers on 2 and 3: frames and controls flow, control:ack carries the round trip', { timeout: 60_000 }, async (t) => {
    const v = await vehicleOn('i1');
    const d = await userOn('i2', 'ann');
    const w3 = await userOn('i3', 'ben');
    assert.equal((await d.call('watch', { vehicleId: v.id })).ok, true);
    const watched = await w3.call('watch', { vehicleId: v.id });
    assert.equal(watched.ok, true);
    assert.equal(watched.state.online, true, 'instance 3 sees the vehicle of instance 1 online');
    for (let i = 0; i < 5; i++) {
      v.peer.socket.emit('frame', meta(i), fakeJpeg(i));
      await sleep(30);
    }
    for (const w of [d, w3]) {
      const [m, bytes] = await w.next('frame', (x) => x.vehicleId === v.id, 10_000);
      assert.equal(bytes[0], 0xff);
      w.socket.emit('frame:ack', { vehicleId: v.id, seq: m.seq });
    }
    assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
    d.socket.emit('control', control(v.id, 1, 0.25));
    const [cmd] = await v.peer.next('control', undefined, 5000);
    assert.deepEqual([cmd.seq, cmd.throttle, cmd.steer], [1, 0.25, 0]);
    const [ack] = await d.next('control:ack', (a) => a.seq === 1, 5000);
    assert.equal(typeof ack.rttMs, 'number');
    t.diagnostic(`driver on i2 → vehicle on i1 → back: rtt ${ack.rttMs} ms`);
    v.peer.socket.emit('telemetry', { speed: 1.5 });
    await w3.next('telemetry', (x) => x.vehicleId === v.id && x.speed === 1.5, 5000);
    const state = (await http(c.url('i3'), 'GET', `/api/vehicles/${v.id}`, { token: admin })).body;
    assert.deepEqual([state.online, state.driver?.name, state.viewers], [true, 'ann', 2], 'instance 3 sees the driver and both watchers');
    await d.call('drive:release', { vehicleId: v.id });
    await v.peer.next('stop', (s) => s.reason === 'released', 5000);
  });

  it('a drive recorded across instances: vehicle on 1, driver on 2, recording turned on through 3, e-stop from a watcher on 3 — the file on 2 has it all', { timeout: 60_000 }, async () => {
    const v = await vehicleOn('i1');
    assert.equal((await http(c.url('i3'), 'PUT', `/api/vehicles/${v.id}/recording`, { token: admin, body: { enabled: true } })).status, 200);
    const d = await userOn('i2', 'ann');
    const w3 = await userOn('i3', 'ben');
    assert.equal((await d.call('watch', { vehicleId: v.id })).ok, true);
    assert.equal((await w3.call('watch', { vehicleId: v.id })).ok, true);
    d.socket.on('frame', (m: { seq: number; vehicleId: string }) => m.vehicleId === v.id && d.socket.emit('frame:ack', { vehicleId: v.id, seq: m.seq }));
    assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
    let seq = 0;
    for (let i = 0; i < 20; i++) {
      v.peer.socket.emit('frame', meta(i), fakeJpeg(i));
      d.socket.emit('control', control(v.id, ++seq, i / 20));
      if (i % 5 === 0) v.peer.socket.emit('telemetry', { speed: i / 10 });
      await sleep(30);
    }
    await d.next('control:ack', (a) => a.seq === seq, 5000);
    // The latch and its release are told to every instance; the driver on 2 sees each before the next step.
    const latched = d.nextNew('vehicle:state', (st) => st.vehicleId === v.id && st.estopped, 5000);
    assert.equal((await w3.call('estop', { vehicleId: v.id })).state.estopped, true);
    await latched;
    // The driver clears it (a watcher may not clear another's drive).
    const cleared = d.nextNew('vehicle:state', (st) => st.vehicleId === v.id && !st.estopped, 5000);
    assert.equal((await d.call('estop:clear', { vehicleId: v.id })).state.estopped, false);
    await cleared;
    await d.call('drive:release', { vehicleId: v.id });
    const reader = await finishedRecording(v.id);
    const topics = new Map([...reader.channelsById.values()].map((ch) => [ch.id, ch.topic]));
    const byTopic = new Map<string, Record<string, unknown>[]>();
    for await (const m of reader.readMessages()) byTopic.set(topics.get(m.channelId)!, [...(byTopic.get(topics.get(m.channelId)!) ?? []), JSON.parse(new TextDecoder().decode(m.data))]);
    const all = Array.from({ length: seq }, (_, i) => i + 1);
    assert.deepEqual(byTopic.get('/control/received')?.map((x) => x.seq), all, 'received on 2');
    assert.deepEqual(byTopic.get('/control/forwarded')?.map((x) => x.seq), all, 'forwarded on 1, recorded on 2');
    assert.deepEqual(byTopic.get('/control/ack')?.map((x) => x.seq), all, 'acked on 1, measured on 2');
    assert.deepEqual(byTopic.get('/telemetry')?.map((x) => x.speed), [0, 0.5, 1, 1.5], 'telemetry from 1');
    assert.equal(byTopic.get('/camera/jpeg')?.length, 20, 'every frame, through Redis');
    assert.deepEqual(byTopic.get('/events')?.map((e) => e.kind), ['acquire', 'estop', 'estop-clear', 'release', 'end']);
  });

  it('a driver on another instance who does not watch: the recording there still has the video, from a key frame, with no gap', { timeout: 60_000 }, async () => {
    const v = await vehicleOn('i1');
    v.peer.socket.emit('video:caps', { codecs: ['h264'], jpegOnRequest: false });
    assert.equal((await http(c.url('i1'), 'PUT', `/api/vehicles/${v.id}/recording`, { token: admin, body: { enabled: true } })).status, 200);
    const CONFIG = { codec: 'avc1.42C01E', description: Buffer.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]).toString('base64') };
    const T0 = 1_700_000_000_000;
    // A key frame every 8 frames; capturedAt tells the seq back in the file.
    const send = (seq: number) => {
      const key = seq % 8 === 0;
      v.peer.socket.emit('frame', { seq, capturedAt: T0 + seq, width: 64, height: 48, codec: 'h264', key, ...(key ? { config: CONFIG } : {}) }, Buffer.from([0, 0, 0, 3, key ? 0x65 : 0x41, 0x88, seq & 0xff]));
    };
    let seq = 0;
    for (; seq < 5; seq++, await sleep(20)) send(seq); // mid-group when the drive starts
    const d = await userOn('i2', 'cat');
    assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
    const from = seq;
    for (; seq < 30; seq++, await sleep(30)) send(seq);
    await d.call('drive:release', { vehicleId: v.id });
    const reader = await finishedRecording(v.id);
    const video = [...reader.channelsById.values()].find((ch) => ch.topic === '/camera/h264')!;
    const frames: { seq: number; key: boolean }[] = [];
    for await (const m of reader.readMessages({ topics: [video.topic] })) {
      const msg = JSON.parse(new TextDecoder().decode(m.data));
      const data = Buffer.from(msg.data, 'base64');
      frames.push({ seq: msg.timestamp.sec * 1000 + Math.round(msg.timestamp.nsec / 1e6) - T0, key: data.includes(0x65) });
    }
    assert.ok(frames.length > 0, 'the file has video although nobody watched on the driver\'s instance');
    assert.equal(frames[0].key, true, `it starts at a key frame: ${JSON.stringify(frames.slice(0, 3))}`);
    const seqs = frames.map((f) => f.seq);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => seqs[0] + i), 'no frame missing or repeated');
    assert.ok(seqs[0] <= from && seqs.at(-1) === seq - 1, `from the group the drive started in (${from}) to the last frame: ${seqs[0]}..${seqs.at(-1)}`);
  });

  it('a late watcher on another instance gets the latest frame at once', { timeout: 30_000 }, async () => {
    const v = await vehicleOn('i1');
    v.peer.socket.emit('frame', meta(41), fakeJpeg(41));
    v.peer.socket.emit('frame', meta(42), fakeJpeg(42));
    await sleep(200);
    const late = await userOn('i3', 'cat');
    await late.call('watch', { vehicleId: v.id });
    const [m] = await late.next('frame', (x) => x.vehicleId === v.id, 5000);
    assert.equal(m.seq, 42);
  });

  it('one driver across instances: a second is refused, an admin takes over from another instance, the previous driver is told', { timeout: 30_000 }, async () => {
    const v = await vehicleOn('i1');
    const a = await userOn('i2', 'ann');
    const b = await userOn('i3', 'ben');
    assert.equal((await a.call('drive:acquire', { vehicleId: v.id })).ok, true);
    const refused = await b.call('drive:acquire', { vehicleId: v.id });
    assert.deepEqual([refused.ok, refused.driver?.name], [false, 'ann']);
    const boss = await userOn('i1', 'admin');
    const taken = await boss.call('drive:acquire', { vehicleId: v.id, force: true });
    assert.equal(taken.ok, true);
    const [revoked] = await a.next('drive:revoked', undefined, 5000);
    assert.deepEqual([revoked.reason, revoked.by?.name], ['takeover', 'Administrator']);
    await v.peer.next('stop', (s) => s.reason === 'takeover', 5000);
    // The old driver's controls go nowhere now; the new driver's do.
    a.socket.emit('control', control(v.id, 50));
    boss.socket.emit('control', control(v.id, 1));
    const [cmd] = await v.peer.next('control', undefined, 5000);
    assert.equal(cmd.seq, 1);
    await sleep(200);
    assert.equal(v.peer.count('control', (x) => x.seq === 50), 0);
    await boss.call('drive:release', { vehicleId: v.id });
  });

  it('e-stop from a watcher on 3 stops the vehicle on 1 and refuses the driver on 2; the latch holds', { timeout: 30_000 }, async () => {
    const v = await vehicleOn('i1');
    const d = await userOn('i2', 'ann');
    const w = await userOn('i3', 'ben');
    await w.call('watch', { vehicleId: v.id });
    assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
    const e = await w.call('estop', { vehicleId: v.id });
    assert.equal(e.state.estopped, true);
    const [stop] = await v.peer.next('estop', undefined, 5000);
    assert.equal(stop.by, 'ben');
    d.socket.emit('control', control(v.id, 1));
    assert.equal((await d.next('error', (x) => x.event === 'control', 5000)).at(0).code, 'estopped');
    await sleep(200);
    assert.equal(v.peer.count('control'), 0, 'nothing reached the vehicle');
    assert.equal((await w.call('estop:clear', { vehicleId: v.id })).error.code, 'forbidden');
    assert.equal((await d.call('estop:clear', { vehicleId: v.id })).ok, true);
    await v.peer.next('estop:clear', undefined, 5000);
    d.socket.emit('control', control(v.id, 2));
    assert.equal((await v.peer.next('control', undefined, 5000)).at(0).seq, 2);
    await d.call('drive:release', { vehicleId: v.id });
  });

  it('kill -9 of the driver’s instance: the vehicle gets stop within the lease, the lock frees, the driver comes back through nginx and drives again', { timeout: 90_000 }, async (t) => {
    const v = await vehicleOn('i1');
    const d = track(await c.socketOn('i2', { token: users.ann.token }, { reconnection: true }));
    assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
    let seq = 0;
    const sending = setInterval(() => d.socket.connected && d.socket.emit('control', control(v.id, ++seq)), 33);
    await v.peer.next('control', undefined, 5000);
    const back = d.nextNew('hello', undefined, 30_000);
    const stopped = v.peer.nextNew('stop', undefined, 10_000);
    const killedAt = performance.now();
    await stopProcess(c.instances[1], 'SIGKILL');
    const [stop] = await stopped;
    const stoppedAfter = performance.now() - killedAt;
    clearInterval(sending);
    t.diagnostic(`kill -9 of the driver's instance → vehicle stop after ${stoppedAfter.toFixed(0)} ms (lease 1000 ms; reason ${stop.reason})`);
    assert.equal(stop.reason, 'lease-expired');
    const state = (await http(c.url('i3'), 'GET', `/api/vehicles/${v.id}`, { token: admin })).body;
    assert.equal(state.driver, null, 'the lock is free');
    // The same client reconnects through nginx, which no longer sends it to the dead instance, and drives again.
    const [hello] = await back;
    assert.notEqual(hello.instanceId, 'i2');
    assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
    d.socket.emit('control', control(v.id, 1));
    await v.peer.next('control', (x) => x.seq === 1, 5000);
    await d.call('drive:release', { vehicleId: v.id });
    await c.restart('i2');
  });

  it('kill -9 of the vehicle’s instance: its vehicles go offline, one reconnects elsewhere and its e-stop latch is still there', { timeout: 90_000 }, async (t) => {
    const mk = async () => (await http(c.nginx.url, 'POST', '/api/vehicles', { token: admin, body: { name: `c-rover-${++n}` } })).body;
    const [a, b] = [await mk(), await mk()];
    // The vehicle connects through nginx (so it can come back through it); whichever instance it lands on dies.
    const roaming = track(await connectPeer(c.nginx.url, { vehicleToken: a.token }, { reconnection: true }));
    const [{ instanceId: home }] = await roaming.next('hello', undefined, 5000);
    const stranded = track(await c.direct(home, { vehicleToken: b.token }, { reconnection: false }));
    const w = await userOn(home === 'i1' ? 'i2' : 'i1', 'ben');
    for (const id of [a.id, b.id]) await w.call('watch', { vehicleId: id });
    assert.equal((await w.call('estop', { vehicleId: a.id })).ok, true);
    await roaming.next('estop', undefined, 5000);
    const helloAgain = roaming.nextNew('hello', undefined, 30_000);
    const latchedAgain = roaming.nextNew('estop', (x) => x.by === 'latched', 30_000);
    const offline = w.nextNew('vehicle:state', (s) => s.vehicleId === b.id && !s.online, 15_000);
    const killedAt = performance.now();
    await stopProcess(c.instances[Number(home.slice(1)) - 1], 'SIGKILL');
    await offline;
    t.diagnostic(`kill -9 of the vehicle's instance → its vehicle offline for watchers after ${(performance.now() - killedAt).toFixed(0)} ms`);
    assert.equal(stranded.socket.connected, false);
    const [hello] = await helloAgain;
    assert.notEqual(hello.instanceId, home);
    await latchedAgain;
    const state = (await http(c.nginx.url, 'GET', `/api/vehicles/${a.id}`, { token: admin })).body;
    assert.deepEqual([state.online, state.estopped], [true, true]);
    await c.restart(home);
  });
  it('the admin dashboard on one instance sums all three: a vehicle on 1, its driver on 2, a watcher on 3', { timeout: 60_000 }, async () => {
    const board = await userOn('i3', 'admin');
    const ack = await board.call('dashboard:watch', {});
    assert.equal(ack.ok, true);
    const v = await vehicleOn('i1');
    const d = await userOn('i2', 'cat');
    const w = await userOn('i3', 'ben');
    for (const p of [d, w]) {
      assert.equal((await p.call('watch', { vehicleId: v.id })).ok, true);
      p.socket.on('frame', (m: { seq: number }) => p.socket.emit('frame:ack', { vehicleId: v.id, seq: m.seq }));
    }
    assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
    let running = true;
    const traffic = (async () => {
      for (let seq = 1; running; seq++) {
        v.peer.socket.emit('frame', meta(seq), fakeJpeg(seq));
        d.socket.emit('control', control(v.id, seq, 0.1));
        await sleep(50);
      }
    })();
    try {
      // Counts from three processes in one sample: the vehicle (i1), its driver (i2), watchers on i2 and i3.
      const [sample] = await board.nextNew(
        'dashboard:sample',
        (x) => x.instances === 3 && x.vehiclesOnline >= 1 && x.drivers >= 1 && x.viewers >= 2 && x.framesPerSec > 0 && x.controlsPerSec > 0 && x.rttP50Ms !== null,
        20_000,
      );
      assert.ok(sample.rttP99Ms >= sample.rttP50Ms);
    } finally {
      running = false;
      await traffic;
    }
    await d.call('drive:release', { vehicleId: v.id });
  });
});
