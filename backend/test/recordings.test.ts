import { McapIndexedReader, type IReadable } from '@mcap/core';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { avccToAnnexB, DriveRecording, parameterSetsOf } from '../src/recordings/drive-recording.js';
import { parseRange } from '../src/recordings/recordings.controller.js';
import { repairMcap, RecordingsService } from '../src/recordings/recordings.service.js';
import { RecorderThread } from '../src/recordings/recorder-thread.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from './helpers/server.js';
import { connectPeer, fakeJpeg, sleep, type Peer } from './helpers/sockets.js';
import type { RunningAgent } from './helpers/agent.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const bufferReadable = (b: Uint8Array): IReadable => ({
  size: async () => BigInt(b.length),
  read: async (offset, size) => b.subarray(Number(offset), Number(offset + size)),
});

async function openMcap(bytes: Uint8Array) {
  const reader = await McapIndexedReader.Initialize({ readable: bufferReadable(bytes) });
  const byTopic = new Map<string, unknown[]>();
  const topics = new Map([...reader.channelsById.values()].map((c) => [c.id, c.topic]));
  for await (const m of reader.readMessages()) {
    const topic = topics.get(m.channelId)!;
    byTopic.set(topic, [...(byTopic.get(topic) ?? []), JSON.parse(new TextDecoder().decode(m.data))]);
  }
  return { reader, byTopic, schemas: [...reader.schemasById.values()].map((s) => s.name).sort() };
}

/** An avcC record with one SPS and one PPS. */
const AVCC = Buffer.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 1, 2, 3, 1, 0, 3, 0x68, 4, 5]);
const accessUnit = (n: number) => Buffer.concat([Buffer.from([0, 0, 0, 3, 0x65, n & 0xff, 7]), Buffer.from([0, 0, 0, 2, 0x06, 9])]);

describe('recordings: MCAP pieces', () => {
  it('turns relayed H.264 (length-prefixed NAL units) into Annex B with the parameter sets before key frames', () => {
    const ps = parameterSetsOf(AVCC)!;
    assert.deepEqual([...ps], [0, 0, 0, 1, 0x67, 1, 2, 3, 0, 0, 0, 1, 0x68, 4, 5]);
    assert.deepEqual([...avccToAnnexB(accessUnit(1), ps)!], [...ps, 0, 0, 0, 1, 0x65, 1, 7, 0, 0, 0, 1, 0x06, 9]);
    assert.deepEqual([...avccToAnnexB(accessUnit(2), null)!], [0, 0, 0, 1, 0x65, 2, 7, 0, 0, 0, 1, 0x06, 9]);
    assert.equal(avccToAnnexB(Buffer.from([0, 0, 0, 9, 1]), null), null, 'a length past the end');
    assert.equal(parameterSetsOf(Buffer.from([2, 0, 0])), null);
  });

  it('the writer thread writes each file in order, and a file it cannot open does not stop it', async () => {
    const thread = new RecorderThread();
    const dir = mkdtempSync(join(tmpdir(), 'vicer-rec-thread-'));
    try {
      const path = join(dir, 'a.mcap');
      const a = await thread.create(path, { drive: 'a' });
      await assert.rejects(thread.create(path, { drive: 'again' }), /EEXIST/, 'an existing file is never overwritten');
      for (let i = 1; i <= 500; i++) a.controlReceived({ seq: i, throttle: i / 500, steer: 0, sentAt: i, driverId: 'd', driver: 'x' }, 1_000 + i);
      a.frame({ seq: 1, capturedAt: 1, width: 8, height: 8, codec: 'jpeg' }, fakeJpeg(1), 2_000);
      a.event({ kind: 'end', reason: 'released' }, 3_000);
      const size = await a.close();
      assert.equal(size, statSync(path).size);
      const { byTopic } = await openMcap(readFileSync(path));
      assert.deepEqual((byTopic.get('/control/received') as { seq: number }[]).map((c) => c.seq), Array.from({ length: 500 }, (_, i) => i + 1));
      assert.equal(byTopic.get('/camera/jpeg')?.length, 1);
      assert.equal(a.error, null);
      const b = await thread.create(join(dir, 'b.mcap'), {});
      assert.ok((await b.close()) > 0, 'still working after the refused one');
    } finally {
      await thread.stop();
    }
  });

  it('the writer thread yields to the relay: it runs as SCHED_IDLE on Linux, the relay thread as before', { skip: !existsSync('/usr/bin/chrt') && 'needs Linux with chrt' }, async () => {
    const thread = new RecorderThread();
    try {
      const before = schedulingOfThreads();
      const rec = await thread.create(join(mkdtempSync(join(tmpdir(), 'vicer-rec-idle-')), 'a.mcap'), {});
      const added = schedulingOfThreads().filter((t) => !before.some((b) => b.tid === t.tid));
      const idle = added.filter((t) => t.policy === SCHED_IDLE);
      assert.equal(idle.length, 1, `one new thread is SCHED_IDLE: ${JSON.stringify(added)}`);
      assert.equal(idle[0].nice, 19, 'with nice 19 as well (what stands where the class cannot be set)');
      const main = schedulingOfThreads().find((t) => t.tid === process.pid);
      assert.deepEqual([main?.policy, main?.nice], [0, 0], 'the relay thread keeps its class and priority');
      await rec.close();
    } finally {
      await thread.stop();
    }
  });

  it('controls and acks through the writer thread come out whole: every field, each driver, each file, in order', async () => {
    const thread = new RecorderThread();
    const dir = mkdtempSync(join(tmpdir(), 'vicer-rec-order-'));
    try {
      const [a, b] = [await thread.create(join(dir, 'a.mcap'), {}), await thread.create(join(dir, 'b.mcap'), {})];
      const expected = { a: [] as unknown[], b: [] as unknown[] };
      // Many slices per batch, two drivers taking turns (a takeover), events between the controls.
      for (let i = 1; i <= 1500; i++) {
        const [rec, list] = i % 3 ? [a, expected.a] : [b, expected.b];
        const driver = i < 700 ? { driverId: 'd-1', driver: 'Ann' } : { driverId: 'd-2', driver: i % 2 ? 'Bo' : 'Bo renamed' };
        const c = { seq: i, throttle: Math.sin(i), steer: -1 / i, sentAt: 1_700_000_000_000 + i / 7, ...driver };
        rec.controlReceived(c, 10_000 + i);
        rec.controlForwarded({ ...c, seq: i + 0.5 }, 10_000 + i);
        rec.controlAck({ seq: i, rttMs: i / 1000 }, 10_000 + i);
        list.push(['/control/received', c], ['/control/forwarded', { ...c, seq: i + 0.5 }], ['/control/ack', { seq: i, rttMs: i / 1000 }]);
        if (i % 250 === 0) {
          rec.event({ kind: 'estop', by: `at ${i}` }, 10_000 + i);
          list.push(['/events', { kind: 'estop', by: `at ${i}` }]);
        }
      }
      for (const [name, rec] of [['a', a], ['b', b]] as const) {
        await rec.close();
        const messages: unknown[] = [];
        const reader = await McapIndexedReader.Initialize({ readable: bufferReadable(readFileSync(join(dir, `${name}.mcap`))) });
        for await (const m of reader.readMessages()) messages.push([reader.channelsById.get(m.channelId)!.topic, JSON.parse(new TextDecoder().decode(m.data))]);
        assert.deepEqual(messages, expected[name]);
      }
    } finally {
      await thread.stop();
    }
  });

  it('a writer thread too far behind drops frames, not memory; the rest keep their room; an H.264 drive resumes at its next key frame', async () => {
    // A 4 KiB ring with 1 KiB kept for all but frames, and a thread that takes in only when asked (no polling).
    const thread = new RecorderThread({ backlogBytes: 4096, reserveBytes: 1024, pollMs: 3_600_000 });
    let behind = 0;
    thread.onBehind = () => behind++;
    const dir = mkdtempSync(join(tmpdir(), 'vicer-rec-backlog-'));
    try {
      const a = await thread.create(join(dir, 'a.mcap'), {});
      const config = { codec: 'avc1.42C01E', description: AVCC.toString('base64') };
      const h264 = (seq: number, key: boolean) => ({ seq, capturedAt: 1_700_000_000_000 + seq, width: 8, height: 8, codec: 'h264' as const, key, ...(key ? { config } : {}) });
      // About 1.7 KiB each: the first fits, the second would eat into the reserve.
      const picture = (n: number) => Buffer.concat([Buffer.from([0, 0, 0x06, 0x40, 0x65, n]), Buffer.alloc(1598, n)]);
      const control = (seq: number) => ({ seq, throttle: 0, steer: 0, sentAt: 1, driverId: 'd', driver: 'x' });
      for (let i = 0; i < 6; i++) a.frame(h264(i, i === 0), picture(i), 1_000 + i);
      assert.equal(thread.framesDropped, 1, 'one refused; the P-frames after it were skipped as undecodable');
      a.controlReceived(control(1), 1_006);
      assert.equal(thread.messagesDropped, 0, 'the control found the room kept for it');
      await thread.drained();
      assert.equal(thread.backlogBytes, 0, 'the thread took everything in');
      // Caught up: P-frames after the gap still wait for a key frame, which starts the stream again.
      a.frame(h264(6, false), picture(6), 1_006);
      a.frame(h264(7, true), picture(7), 1_007);
      await thread.drained();
      a.frame(h264(8, false), picture(8), 1_008);
      // Far behind: once the ring is full, controls are dropped too (memory stays bounded), the first ones kept.
      for (let seq = 2; seq <= 101; seq++) a.controlReceived(control(seq), 1_008 + seq);
      const dropped = thread.messagesDropped;
      assert.ok(dropped > 0 && dropped < 100, `some controls dropped: ${dropped}`);
      await a.close();
      const { byTopic } = await openMcap(readFileSync(join(dir, 'a.mcap')));
      const seqs = (byTopic.get('/camera/h264') as { timestamp: { sec: number; nsec: number } }[]).map((m) => Math.round(m.timestamp.nsec / 1e6));
      assert.deepEqual(seqs, [0, 7, 8], 'the first frame, then from the next key frame on');
      const controls = (byTopic.get('/control/received') as { seq: number }[]).map((c) => c.seq);
      assert.deepEqual(controls, Array.from({ length: 101 - dropped }, (_, i) => i + 1), 'in order, the ones that fitted');
      assert.equal(behind, 2, 'told once per time it fell behind');
    } finally {
      await thread.stop();
    }
  });

  it('parses one byte range, and nothing else', () => {
    assert.deepEqual(parseRange('bytes=0-7', 100), { start: 0, end: 7 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
    assert.deepEqual(parseRange('bytes=50-1000', 100), { start: 50, end: 99 });
    for (const bad of ['bytes=100-', 'bytes=5-1', 'bytes=-', 'bytes=0-1,5-6', 'items=0-1', 'bytes=a-b', 'bytes=' + '9'.repeat(40) + '-']) assert.equal(parseRange(bad, 100), null, bad);
  });

  it('a file cut short by a crash is rewritten from its whole chunks, with a fresh index', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vicer-rec-'));
    const path = join(dir, 'crash.mcap');
    const rec = await DriveRecording.create(path, { vehicle: 'unit' });
    const jpeg = fakeJpeg(1, 20_000);
    for (let i = 0; i < 40; i++) rec.frame({ seq: i, capturedAt: 1_700_000_000_000 + i * 33, width: 64, height: 48, codec: 'jpeg' }, jpeg, 1_700_000_000_000 + i * 33);
    await sleep(200); // let the queued writes reach the file; the writer is never closed (the crash)
    const full = statSync(path).size;
    assert.ok(full > 500_000, `chunks reached the disk as the drive went on (${full} bytes)`);
    truncateSync(path, full - 1000); // a torn last record
    await assert.rejects(McapIndexedReader.Initialize({ readable: bufferReadable(readFileSync(path)) }), 'the torn file has no index');
    const repaired = await repairMcap(path, new Date(0));
    const { byTopic, reader } = await openMcap(readFileSync(path));
    const frames = byTopic.get('/camera/jpeg') ?? [];
    assert.ok(frames.length >= 30 && frames.length < 40, `whole chunks kept: ${frames.length} of 40 frames`);
    assert.equal(repaired.bytes, statSync(path).size);
    assert.ok(reader.statistics, 'the summary is back');
  });
});

describe('recordings: a recorded drive through the relay', () => {
  let s: TestServer;
  let admin: string;
  let vehicle: { id: string; token: string };
  const peers: Peer[] = [];
  before(async () => {
    s = await startServer({ RECORD_DRIVES: '1', RECORDINGS_MAX_GB: '1' });
    admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
    vehicle = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'rec-rover' } })).body;
  });
  after(async () => {
    peers.forEach((p) => p.close());
    await s.close();
  });

  it('writes one MCAP file per drive: video as Foxglove expects it, every control received and forwarded, acks, telemetry and the safety events in order', async () => {
    const v = await connectPeer(s.url, { vehicleToken: vehicle.token });
    const d = await connectPeer(s.url, { token: admin });
    peers.push(v, d);
    v.socket.on('control', (c: { seq: number }) => v.socket.emit('control:ack', { seq: c.seq }));
    d.socket.on('frame', (m: { seq: number }) => d.socket.emit('frame:ack', { vehicleId: vehicle.id, seq: m.seq }));
    assert.equal((await d.call('watch', { vehicleId: vehicle.id })).ok, true);
    assert.equal((await d.call('drive:acquire', { vehicleId: vehicle.id })).ok, true);
    await sleep(100);
    const frames = 30;
    for (let i = 1; i <= frames; i++) {
      const key = i % 10 === 1;
      v.socket.emit('frame', { seq: i, capturedAt: Date.now(), width: 64, height: 48, codec: 'h264', key, ...(key ? { config: { codec: 'avc1.42c01e', description: AVCC.toString('base64') } } : {}) }, accessUnit(i));
      d.socket.emit('control', { vehicleId: vehicle.id, seq: i, throttle: i / frames, steer: -0.1, sentAt: Date.now() });
      if (i % 10 === 0) v.socket.emit('telemetry', { speed: i / 10, heading: 90, x: i, y: 0, battery: 99 });
      await sleep(15);
    }
    await d.next('control:ack', (a) => a.seq === frames, 5000);
    assert.equal((await d.call('estop', { vehicleId: vehicle.id })).ok, true);
    assert.equal((await d.call('estop:clear', { vehicleId: vehicle.id })).ok, true);
    await d.call('drive:release', { vehicleId: vehicle.id });
    let list;
    for (let i = 0; i < 50; i++) {
      list = (await s.api('GET', '/api/recordings', { token: admin })).body;
      if (list.items[0]?.endedAt) break;
      await sleep(50);
    }
    assert.equal(list.total, 1);
    const row = list.items[0];
    assert.deepEqual([row.vehicleName, row.driverName, row.endReason, row.repaired], ['rec-rover', 'Administrator', 'released', false]);
    assert.ok(row.bytes > 0 && row.durationMs > 0);
    // The drive belongs to the driver's session: the connection log links to it, and the list filters by sessions.
    const sessions = (await s.api('GET', '/api/connections?state=active&kind=operator', { token: admin })).body.items as { id: string }[];
    assert.ok(row.connectionId && sessions.some((c) => c.id === row.connectionId), 'the driver session is in the connection log');
    const bySession = await s.api('GET', `/api/recordings?connectionIds=${row.connectionId},${crypto.randomUUID()}`, { token: admin });
    assert.deepEqual(bySession.body.items.map((r: { id: string }) => r.id), [row.id]);
    for (const bad of ['nope', `${row.connectionId},`, Array.from({ length: 101 }, () => crypto.randomUUID()).join(',')]) {
      const res = await s.api('GET', `/api/recordings?connectionIds=${bad}`, { token: admin });
      assert.equal(res.status, 400, bad.slice(0, 40));
      assert.match(res.body.details[0].field, /^connectionIds(\.\d+)?$/, 'the list, or which id in it');
    }

    const file = await s.api('GET', `/api/recordings/${row.id}/file`, { token: admin });
    assert.equal(file.status, 200);
    const res = await fetch(`${s.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${admin}` } });
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="rec-rover-.*\.mcap"/);
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.equal(bytes.length, row.bytes);
    const { byTopic, schemas, reader } = await openMcap(bytes);
    assert.deepEqual(schemas, ['foxglove.CompressedImage', 'foxglove.CompressedVideo', 'vicer.Control', 'vicer.ControlAck', 'vicer.SafetyEvent', 'vicer.Telemetry']);
    const video = byTopic.get('/camera/h264') as { format: string; data: string }[];
    assert.equal(video.length, frames);
    assert.equal(video[0].format, 'h264');
    const first = Buffer.from(video[0].data, 'base64');
    assert.deepEqual([...first.subarray(0, 5)], [0, 0, 0, 1, 0x67], 'a key frame starts with its SPS, Annex B');
    assert.deepEqual((byTopic.get('/control/received') as { seq: number }[]).map((c) => c.seq), Array.from({ length: frames }, (_, i) => i + 1));
    assert.deepEqual((byTopic.get('/control/forwarded') as { seq: number }[]).map((c) => c.seq), Array.from({ length: frames }, (_, i) => i + 1));
    assert.equal((byTopic.get('/control/ack') as unknown[]).length, frames);
    assert.equal((byTopic.get('/telemetry') as unknown[]).length, 3);
    assert.deepEqual((byTopic.get('/events') as { kind: string }[]).map((e) => e.kind), ['acquire', 'estop', 'estop-clear', 'release', 'end']);
    const meta = [];
    for await (const m of reader.readMetadata()) meta.push(m);
    assert.equal(meta[0].metadata.get('vehicle'), 'rec-rover');

    // Ranges: what a player reads first (the footer), and a bad one.
    const head = await fetch(`${s.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${admin}`, range: 'bytes=0-7' } });
    assert.equal(head.status, 206);
    assert.equal(head.headers.get('content-range'), `bytes 0-7/${row.bytes}`);
    assert.deepEqual([...new Uint8Array(await head.arrayBuffer())], [0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a]);
    const tail = await fetch(`${s.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${admin}`, range: 'bytes=-8' } });
    assert.deepEqual([...new Uint8Array(await tail.arrayBuffer())], [...bytes.subarray(bytes.length - 8)]);
    const bad = await fetch(`${s.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${admin}`, range: `bytes=${row.bytes}-` } });
    assert.equal(bad.status, 416);
  });

  it('a drive taken mid-group starts its file at the key frame before it, so the first pictures decode', async () => {
    const other = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'rec-midgroup' } })).body;
    const v = await connectPeer(s.url, { vehicleToken: other.token });
    const d = await connectPeer(s.url, { token: admin });
    peers.push(v, d);
    d.socket.on('frame', (m: { seq: number }) => d.socket.emit('frame:ack', { vehicleId: other.id, seq: m.seq }));
    v.socket.emit('video:caps', { codecs: ['h264'] });
    await sleep(100);
    const watched = await d.call('watch', { vehicleId: other.id, codecs: ['h264'] });
    assert.equal(watched.ok, true, JSON.stringify(watched));
    const send = (i: number) => {
      const key = i === 1;
      v.socket.emit('frame', { seq: i, capturedAt: Date.now(), width: 64, height: 48, codec: 'h264', key, ...(key ? { config: { codec: 'avc1.42c01e', description: AVCC.toString('base64') } } : {}) }, accessUnit(i));
    };
    // A key frame and four P-frames before anyone drives; the drive begins at frame 6.
    for (let i = 1; i <= 5; i++) send(i);
    await d.next('frame', (m) => m.seq === 5, 5000);
    assert.equal((await d.call('drive:acquire', { vehicleId: other.id })).ok, true);
    await sleep(100);
    for (let i = 6; i <= 8; i++) send(i);
    await d.next('frame', (m) => m.seq === 8, 5000);
    await d.call('drive:release', { vehicleId: other.id });
    let row;
    for (let i = 0; i < 50 && !row?.endedAt; i++) {
      row = (await s.api('GET', `/api/recordings?vehicleId=${other.id}`, { token: admin })).body.items[0];
      await sleep(50);
    }
    const bytes = new Uint8Array(await (await fetch(`${s.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${admin}` } })).arrayBuffer());
    const reader = await McapIndexedReader.Initialize({ readable: bufferReadable(bytes) });
    const topics = new Map([...reader.channelsById.values()].map((c) => [c.id, c.topic]));
    const video: { logTime: bigint; nal: number }[] = [];
    let acquiredAt = 0n;
    for await (const m of reader.readMessages()) {
      const body = JSON.parse(new TextDecoder().decode(m.data));
      if (topics.get(m.channelId) === '/camera/h264') video.push({ logTime: m.logTime, nal: Buffer.from(body.data, 'base64')[4] & 0x1f });
      if (topics.get(m.channelId) === '/events' && body.kind === 'acquire') acquiredAt = m.logTime;
    }
    assert.equal(video.length, 8, 'the group before the drive (5 frames) and the 3 after it');
    assert.equal(video[0].nal, 7, 'the file starts with the key frame, its SPS first');
    assert.ok(video[4].logTime <= acquiredAt && acquiredAt <= video[5].logTime, 'the group is logged when it was relayed, before the acquire');
  });

  it('a vehicle not recorded is not recorded; an admin turns it on per vehicle', async () => {
    const plain = await startServer();
    try {
      const token = (await plain.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      const veh = (await plain.api('POST', '/api/vehicles', { token, body: { name: 'plain' } })).body;
      const v = await connectPeer(plain.url, { vehicleToken: veh.token });
      const d = await connectPeer(plain.url, { token });
      try {
        assert.equal((await d.call('drive:acquire', { vehicleId: veh.id })).ok, true);
        await d.call('drive:release', { vehicleId: veh.id });
        await sleep(100);
        assert.equal((await plain.api('GET', '/api/recordings', { token })).body.total, 0);
        assert.deepEqual((await plain.api('PUT', `/api/vehicles/${veh.id}/recording`, { token, body: { enabled: true } })).body, { enabled: true });
        assert.equal((await d.call('drive:acquire', { vehicleId: veh.id })).ok, true);
        await sleep(100);
        await d.call('drive:release', { vehicleId: veh.id });
        for (let i = 0; i < 40 && (await plain.api('GET', '/api/recordings', { token })).body.total < 1; i++) await sleep(50);
        assert.equal((await plain.api('GET', '/api/recordings', { token })).body.total, 1);
        assert.equal((await plain.api('PUT', `/api/vehicles/00000000-0000-4000-8000-000000000000/recording`, { token, body: { enabled: true } })).status, 404);
        assert.equal((await plain.api('PUT', `/api/vehicles/${veh.id}/recording`, { token, body: { enabled: 'yes' } })).status, 400);
      } finally {
        v.close();
        d.close();
      }
    } finally {
      await plain.close();
    }
  });

  it('a non-admin gets 403 on every route; an id is never a path', async () => {
    const email = `rec-${Date.now()}@example.com`;
    await s.api('POST', '/api/auth/signup', { body: { email, password: 'password-123' } });
    const user = (await s.login(email, 'password-123')).accessToken;
    const id = (await s.api('GET', '/api/recordings', { token: admin })).body.items[0].id;
    for (const [method, path, body] of [
      ['GET', '/api/recordings'],
      ['GET', `/api/recordings/${id}`],
      ['GET', `/api/recordings/${id}/file`],
      ['DELETE', `/api/recordings/${id}`],
      ['PUT', `/api/vehicles/${vehicle.id}/recording`, { enabled: false }],
    ] as const) {
      assert.equal((await s.api(method, path, { token: user, body })).status, 403, `${method} ${path}`);
    }
    for (const evil of ['..%2F..%2Fjwt-secret', '..%2F..%2F..%2Fetc%2Fpasswd', '%2E%2E', 'a'.repeat(36)]) {
      const res = await s.api('GET', `/api/recordings/${evil}/file`, { token: admin });
      assert.ok([400, 404].includes(res.status), `${evil}: ${res.status}`);
      assert.ok(!String(res.body).includes('BEGIN') && res.headers.get('content-type')?.includes('json'));
    }
  });

  it('retention, then the disk budget, remove the oldest finished recordings and never the one in progress', async () => {
    const svc = s.app.get(RecordingsService);
    const ds = s.app.get(DataSource);
    const make = async (daysAgo: number, bytes: number, ended = true) => {
      const id = crypto.randomUUID();
      writeFileSync(join(svc.dir, `${id}.mcap`), Buffer.alloc(16));
      await ds.query(
        `INSERT INTO recordings (id, vehicleId, vehicleName, driverId, driverName, instanceId, startedAt, endedAt, bytes, endReason, repaired) VALUES (?, ?, 'old', NULL, 'x', 'elsewhere', ?, ?, ?, ?, 0)`,
        [id, vehicle.id, new Date(Date.now() - daysAgo * 86_400_000).toISOString().replace('T', ' ').replace('Z', ''), ended ? new Date(Date.now() - daysAgo * 86_400_000 + 60_000).toISOString().replace('T', ' ').replace('Z', '') : null, bytes, ended ? 'released' : null],
      );
      return id;
    };
    const ancient = await make(40, 10);
    const unfinished = await make(50, 10, false);
    const big1 = await make(3, 0.6 * 1024 ** 3);
    const big2 = await make(2, 0.6 * 1024 ** 3);
    const removed = await svc.sweep();
    assert.ok(removed.includes(ancient), 'older than RECORDING_RETENTION_DAYS (30)');
    assert.ok(removed.includes(big1) && !removed.includes(big2), 'over RECORDINGS_MAX_GB (1): the oldest goes first');
    assert.ok(!removed.includes(unfinished), 'never one in progress');
    const left = (await s.api('GET', '/api/recordings?pageSize=100', { token: admin })).body.items.map((r: { id: string }) => r.id);
    assert.ok(left.includes(big2) && left.includes(unfinished) && !left.includes(ancient));
    for (const id of [big2, unfinished]) assert.equal((await s.api('DELETE', `/api/recordings/${id}`, { token: admin })).status, 204);
  });
});

describe('recordings: a real drive through the vehicle agent', () => {
  it("the agent's H.264 and every control, ack and safety event are in the file, which Foxglove's reader opens with every CRC checked", { timeout: 90_000 }, async () => {
    const { runAgent } = await import('./helpers/agent.js');
    const s = await startServer({ RECORD_DRIVES: '1' });
    const peers: Peer[] = [];
    const agent: { current: RunningAgent | null } = { current: null };
    try {
      const admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      const v = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'agent-rec' } })).body;
      agent.current = runAgent(['--server', s.url, '--token', v.token, '--codec', 'h264', '--fps', '15', '--size', '320x240', '--name', 'agent-rec']);
      const d = await connectPeer(s.url, { token: admin });
      peers.push(d);
      await d.next('vehicle:state', (st) => st.vehicleId === v.id && st.online, 20_000);
      d.socket.on('frame', (m: { seq: number }) => d.socket.emit('frame:ack', { vehicleId: v.id, seq: m.seq }));
      assert.equal((await d.call('watch', { vehicleId: v.id, codecs: ['h264'] })).codec, 'h264');
      await d.next('frame', undefined, 15_000);
      assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
      // Two bursts of controls at 30 Hz around an e-stop that is then cleared; the agent acks each one.
      let seq = 0;
      const burst = async (n: number) => {
        for (let i = 0; i < n; i++) {
          d.socket.emit('control', { vehicleId: v.id, seq: ++seq, throttle: 0.5, steer: (seq % 10) / 10 - 0.5, sentAt: Date.now() });
          await sleep(33);
        }
        await d.next('control:ack', (a) => a.seq === seq, 5000);
      };
      await burst(45);
      assert.equal((await d.call('estop', { vehicleId: v.id })).ok, true);
      assert.equal((await d.call('estop:clear', { vehicleId: v.id })).ok, true);
      await burst(30);
      const drivenMs = 75 * 33;
      await d.call('drive:release', { vehicleId: v.id });
      let row;
      for (let i = 0; i < 100 && !row?.endedAt; i++) {
        row = (await s.api('GET', '/api/recordings', { token: admin })).body.items[0];
        await sleep(50);
      }
      const bytes = new Uint8Array(await (await fetch(`${s.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${admin}` } })).arrayBuffer());
      const reader = await McapIndexedReader.Initialize({ readable: bufferReadable(bytes) });
      const topics = new Map([...reader.channelsById.values()].map((c) => [c.id, c.topic]));
      const byTopic = new Map<string, Record<string, unknown>[]>();
      for await (const m of reader.readMessages({ validateCrcs: true })) {
        const topic = topics.get(m.channelId)!;
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), JSON.parse(new TextDecoder().decode(m.data))]);
      }
      const all = Array.from({ length: seq }, (_, i) => i + 1);
      assert.deepEqual(byTopic.get('/control/received')!.map((c) => c.seq), all, 'every control as received');
      assert.deepEqual(byTopic.get('/control/forwarded')!.map((c) => c.seq), all, 'every control as forwarded');
      assert.deepEqual(byTopic.get('/control/ack')!.map((c) => c.seq), all, 'every ack, with its round trip');
      assert.ok(byTopic.get('/control/ack')!.every((a) => typeof a.rttMs === 'number' && (a.rttMs as number) >= 0));
      assert.deepEqual(byTopic.get('/events')!.map((e) => e.kind), ['acquire', 'estop', 'estop-clear', 'release', 'end']);
      const video = byTopic.get('/camera/h264')!;
      // 15 fps for the drive, plus the group before it (a key frame every 2 s); no frame rate is asserted, only that the
      // stream is the agent's: a key frame first, and about as many frames as the drive lasted.
      assert.ok(video.length >= (15 * drivenMs) / 1000 / 2, `${video.length} frames for ${drivenMs} ms at 15 fps`);
      assert.equal(Buffer.from(video[0].data as string, 'base64')[4] & 0x1f, 7, 'the file starts with a key frame, its SPS first');
      assert.ok(video.every((f) => f.format === 'h264'));
      assert.ok((byTopic.get('/telemetry') ?? []).length >= 1, "the agent's telemetry");
      assert.deepEqual([...reader.schemasById.values()].map((x) => x.name).sort(), ['foxglove.CompressedImage', 'foxglove.CompressedVideo', 'vicer.Control', 'vicer.ControlAck', 'vicer.SafetyEvent', 'vicer.Telemetry']);
    } finally {
      agent.current?.child.kill('SIGKILL');
      peers.forEach((p) => p.close());
      await s.close();
    }
  });
});

describe('recordings: kill -9 during a drive', () => {
  it('the file is readable after a restart: repaired from what reached the disk, marked as such', { timeout: 120_000 }, async () => {
    const { startServerProcess, stopProcess, http } = await import('./helpers/process.js');
    const dataDir = mkdtempSync(join(tmpdir(), 'vicer-rec-kill-'));
    const env = { DATA_DIR: dataDir, RECORD_DRIVES: '1', INSTANCE_ID: 'rec-kill' };
    const first = await startServerProcess(env);
    const admin = (await http(first.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.accessToken;
    const veh = (await http(first.url, 'POST', '/api/vehicles', { token: admin, body: { name: 'kill-rover' } })).body;
    const v = await connectPeer(first.url, { vehicleToken: veh.token });
    const d = await connectPeer(first.url, { token: admin });
    v.socket.on('control', (c: { seq: number }) => v.socket.emit('control:ack', { seq: c.seq }));
    assert.equal((await d.call('drive:acquire', { vehicleId: veh.id })).ok, true);
    const jpeg = fakeJpeg(3, 30_000);
    for (let i = 1; i <= 60; i++) {
      v.socket.emit('frame', { seq: i, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' }, jpeg);
      d.socket.emit('control', { vehicleId: veh.id, seq: i, throttle: 0.3, steer: 0, sentAt: Date.now() });
      await sleep(20);
    }
    await d.next('control:ack', (a) => a.seq === 60, 5000);
    // The writer runs at idle priority: on a busy machine it may lag. Killed once 40 frames' worth is on disk (the
    // file grows by 64 KiB chunks as the drive goes on, so this also shows nothing waits in memory for the end).
    const dir = join(dataDir, 'recordings');
    const onDisk = () => readdirSync(dir).filter((f) => f.endsWith('.mcap')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    const deadline = Date.now() + 60_000;
    while (onDisk() < 40 * jpeg.length && Date.now() < deadline) await sleep(50);
    await stopProcess(first, 'SIGKILL');
    v.close();
    d.close();

    const second = await startServerProcess(env);
    try {
      const token = (await http(second.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.accessToken;
      const row = (await http(second.url, 'GET', '/api/recordings', { token })).body.items[0];
      assert.deepEqual([row.endReason, row.repaired], ['server-crash', true]);
      assert.ok(row.endedAt && row.durationMs >= 0);
      const res = await fetch(`${second.url}/api/recordings/${row.id}/file`, { headers: { authorization: `Bearer ${token}` } });
      const { byTopic } = await openMcap(new Uint8Array(await res.arrayBuffer()));
      const frames = (byTopic.get('/camera/jpeg') ?? []).length;
      assert.ok(frames >= 40, `most of the drive survived: ${frames} of 60 frames`);
      assert.equal((byTopic.get('/events') as { kind: string }[])[0].kind, 'acquire');
    } finally {
      await stopProcess(second);
    }
  });
});

const SCHED_IDLE = 5;

/** This process's threads with their scheduling class and nice value, from /proc (fields 19 and 41 of stat). */
function schedulingOfThreads(): { tid: number; policy: number; nice: number }[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { tid: Number(tid), nice: Number(fields[16]), policy: Number(fields[38]) };
  });
}
