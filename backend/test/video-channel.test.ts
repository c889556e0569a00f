import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import type * as Parser from 'socket.io-parser';
import { BINARY_FRAME_ACK, decodeFrameAck, encodeFrameAck, encodeFrameMessage, FrameAcker, FrameMetaSchema, isBinaryFrame, isWellFormedFrameMeta, isBinaryFrameAck, parseBinaryFrame, parseInbound, RELAY_LIMITS, type FrameAck, type FrameMeta, type Sender } from '../src/protocol/index.js';
import { encodeFrameEvent } from '../src/sockets/frame-fanout.js';
import { VideoChannel, type Frame } from '../src/relay/video-channel.js';
import { sleep } from './helpers/sockets.js';

const { Encoder } = createRequire(import.meta.url)('socket.io-parser') as typeof Parser;

const config = { codec: 'avc1.42C01E', description: 'AUIAHv/hAAA=' };
const h264 = (seq: number, key = false): FrameMeta => ({ seq, capturedAt: seq, width: 640, height: 480, codec: 'h264', key, ...(key ? { config } : {}) });
const jpeg = (seq: number): FrameMeta => ({ seq, capturedAt: seq, width: 640, height: 480, codec: 'jpeg' });

/** A channel whose deliveries are recorded per socket. */
function channel(windows = { jpeg: 2, h264: 4 }, gopCap = 1 << 20) {
  const got = new Map<string, number[]>();
  let keyRequests = 0;
  const ch = new VideoChannel(
    'v1',
    (ids: string[], f: Frame) => ids.forEach((id) => got.set(id, [...(got.get(id) ?? []), f.meta.seq])),
    () => keyRequests++,
    windows,
    gopCap,
  );
  return { ch, got: (id: string) => got.get(id) ?? [], keyRequests: () => keyRequests };
}

describe('VideoChannel: one flow control for JPEG and H.264', () => {
  it('JPEG: at most the window in flight, and an ack brings the newest skipped frame (latest wins)', () => {
    const { ch, got } = channel();
    ch.watch('a', 'u', 'A', 'jpeg');
    for (let s = 0; s < 5; s++) ch.push(jpeg(s), Buffer.alloc(10));
    assert.deepEqual(got('a'), [0, 1]);
    assert.equal(ch.ack('a', 0), 'credited');
    assert.deepEqual(got('a'), [0, 1, 4], 'the newest, not the next in line');
  });

  it('H.264: a late joiner gets the group from its key frame at once, and only its last frame takes credit', () => {
    const { ch, got } = channel();
    ch.push(h264(0, true), Buffer.alloc(10));
    for (let s = 1; s < 6; s++) ch.push(h264(s), Buffer.alloc(10));
    ch.watch('late', 'u', 'L', 'h264');
    assert.deepEqual(got('late'), [0, 1, 2, 3, 4, 5]);
    for (let s = 6; s < 12; s++) ch.push(h264(s), Buffer.alloc(10));
    assert.deepEqual(got('late'), [0, 1, 2, 3, 4, 5, 6, 7, 8], 'window 4: the group\'s last frame and three more');
  });

  it('H.264: a watcher that skipped a frame gets no P-frame it cannot decode; an ack brings the group back from its key frame', () => {
    const { ch, got } = channel();
    ch.push(h264(0, true), Buffer.alloc(10));
    ch.watch('w', 'u', 'W', 'h264');
    for (let s = 1; s < 8; s++) ch.push(h264(s), Buffer.alloc(10));
    assert.deepEqual(got('w'), [0, 1, 2, 3], 'credit spent after 4 frames; 4–7 skipped');
    ch.push(h264(8, true), Buffer.alloc(10));
    assert.deepEqual(got('w'), [0, 1, 2, 3], 'even a key frame waits for credit');
    ch.push(h264(9), Buffer.alloc(10));
    assert.equal(ch.ack('w', 3), 'credited');
    assert.deepEqual(got('w'), [0, 1, 2, 3, 8, 9], 'resumed from the key frame 8, never with 4–7');
  });

  it('an ack for a frame never sent to that watcher is refused and returns no credit; a fresh stream forgets the old one', () => {
    const { ch, got } = channel();
    ch.watch('w', 'u', 'W', 'jpeg');
    for (let s = 0; s < 4; s++) ch.push(jpeg(s), Buffer.alloc(10));
    assert.deepEqual(got('w'), [0, 1]);
    assert.equal(ch.ack('w', Number.MAX_SAFE_INTEGER), 'unsent');
    assert.equal(ch.ack('w', 2), 'unsent', 'skipped, never sent');
    assert.deepEqual(got('w'), [0, 1], 'no credit came back');
    assert.equal(ch.watcherStats()[0].inFlight, 2);
    ch.clearLatest();
    assert.equal(ch.ack('w', 1), 'stale', 'a late ack of the old stream is no lie');
  });

  it('a watcher whose connection holds more than its byte bound skips, however it acks; it resumes once the bytes are gone', () => {
    const got = new Map<string, number[]>();
    const backlog = new Map<string, number>([['slow', 0], ['fast', 0]]);
    const ch = new VideoChannel(
      'v1',
      (ids: string[], f: Frame) => ids.forEach((id) => {
        got.set(id, [...(got.get(id) ?? []), f.meta.seq]);
        if (id === 'slow') backlog.set(id, backlog.get(id)! + f.bytes.length);
      }),
      () => undefined,
      { jpeg: 2, h264: 4 },
      1 << 20,
      (id) => backlog.get(id) ?? 0,
      250,
    );
    ch.push(h264(0, true), Buffer.alloc(100));
    ch.watch('slow', 'u', 'S', 'h264');
    ch.watch('fast', 'u', 'F', 'h264');
    for (let s = 1; s < 20; s++) {
      ch.push(h264(s), Buffer.alloc(100));
      // Both ack everything they were sent, at once.
      ch.ack('slow', got.get('slow')!.at(-1)!);
      ch.ack('fast', got.get('fast')!.at(-1)!);
    }
    assert.equal(got.get('fast')!.length, 20, 'the reader gets every frame');
    assert.deepEqual(got.get('slow'), [0, 1, 2], 'the non-reader stops at its bound (300 > 250 bytes)');
    assert.equal(ch.watcherStats().find((w) => w.name === 'S')!.skipped, 17);
    backlog.set('slow', 0);
    ch.push(h264(20, true), Buffer.alloc(100));
    assert.deepEqual(got.get('slow')!.slice(3), [20], 'flushed: back from the next key frame');
  });

  it('acks are cumulative: one ack settles every earlier frame, even when the acked one was sent outside the window', () => {
    const { ch, got } = channel();
    ch.push(h264(0, true), Buffer.alloc(10));
    ch.push(h264(1), Buffer.alloc(10));
    ch.push(h264(2), Buffer.alloc(10));
    ch.watch('w', 'u', 'W', 'h264'); // 0 and 1 sent without credit, 2 with
    ch.push(h264(3), Buffer.alloc(10));
    assert.equal(ch.ack('w', 1), 'stale', 'nothing in flight up to 1');
    assert.equal(ch.ack('w', 3), 'credited');
    assert.equal(ch.watcherStats()[0].inFlight, 0);
    assert.equal(ch.watcherStats()[0].acked, 2);
    assert.deepEqual(got('w'), [0, 1, 2, 3]);
  });

  it('H.264 with no group at hand asks the vehicle for a key frame; the vehicle going offline resets what is awaited', () => {
    const { ch, got, keyRequests } = channel();
    ch.watch('w', 'u', 'W', 'h264');
    assert.equal(keyRequests(), 1);
    ch.push(h264(1), Buffer.alloc(10));
    assert.deepEqual(got('w'), []);
    ch.push(h264(2, true), Buffer.alloc(10));
    ch.push(h264(3), Buffer.alloc(10));
    assert.deepEqual(got('w'), [2, 3]);
    ch.clearLatest();
    assert.equal(ch.watcherStats()[0].inFlight, 0, 'the next stream starts afresh (its seq may start over)');
    ch.push(h264(0), Buffer.alloc(10));
    ch.push(h264(1, true), Buffer.alloc(10));
    assert.deepEqual(got('w'), [2, 3, 1], 'after the reconnect, from its first key frame');
  });

  it('a group larger than its byte cap is dropped: late joiners wait for a key frame instead', () => {
    const { ch, got, keyRequests } = channel(undefined, 100);
    ch.push(h264(0, true), Buffer.alloc(60));
    ch.push(h264(1), Buffer.alloc(60));
    ch.watch('w', 'u', 'W', 'h264');
    assert.deepEqual(got('w'), []);
    assert.equal(keyRequests(), 1);
  });
});

describe('FrameAcker: cumulative acks, every few frames', () => {
  it('acks each JPEG, every fifth H.264 frame, the rest within ackFlushMs, and flushes before switching vehicle', async () => {
    const sent: FrameAck[] = [];
    const a = new FrameAcker((x) => sent.push(x));
    a.drawn('jpeg', 'v1', 1);
    assert.deepEqual(sent, [{ vehicleId: 'v1', seq: 1 }]);
    sent.length = 0;
    for (let s = 2; s <= 12; s++) a.drawn('h264', 'v1', s);
    assert.equal(RELAY_LIMITS.ackEvery.h264, 5);
    assert.deepEqual(sent, [{ vehicleId: 'v1', seq: 6 }, { vehicleId: 'v1', seq: 11 }]);
    a.drawn('h264', 'v2', 1);
    assert.deepEqual(sent.at(-1), { vehicleId: 'v1', seq: 12 }, 'the other vehicle\'s pending ack goes first');
    await sleep(RELAY_LIMITS.ackFlushMs + 50);
    assert.deepEqual(sent.at(-1), { vehicleId: 'v2', seq: 1 }, 'flushed by the timer');
    a.stop();
  });
});

describe('binary frame acks', () => {
  it('property: encode then decode gives the same ack, for any uuid and any whole seq', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.maxSafeNat(), (vehicleId, seq) => {
        const bytes = encodeFrameAck({ vehicleId, seq });
        assert.equal(bytes.length, BINARY_FRAME_ACK.bytes);
        assert.equal(isBinaryFrameAck(bytes), true);
        assert.deepEqual(decodeFrameAck(bytes), { ok: true, ack: { vehicleId: vehicleId.toLowerCase(), seq } });
      }),
    );
  });

  it('refuses the wrong length, the wrong tag, and a seq that is not a whole number from 0, saying which', () => {
    const good = encodeFrameAck({ vehicleId: '6f1c2a52-3c1e-4c7e-9d3f-1b2a3c4d5e6f', seq: 9 });
    assert.match((decodeFrameAck(good.subarray(0, 24)) as { message: string }).message, /25 bytes/);
    assert.match((decodeFrameAck(Uint8Array.from([0xa2, ...good.subarray(1)])) as { message: string }).message, /starting with 0xa1/);
    for (const seq of [-1, 0.5, NaN, Infinity, 2 ** 53]) {
      const b = Buffer.from(good);
      b.writeDoubleBE(seq, 17);
      assert.match((decodeFrameAck(b) as { message: string }).message, /^seq: /, String(seq));
    }
    assert.equal(isBinaryFrameAck(Buffer.from([1, 2, 3])), false);
    assert.equal(isBinaryFrameAck('\xa1'), false);
    assert.throws(() => encodeFrameAck({ vehicleId: 'not-a-uuid', seq: 1 }), /uuid/);
  });
});

describe('binary frames (BINARY_FRAME)', () => {
  const json = fc.oneof(fc.string({ maxLength: 12 }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null));
  /** Metas near the schema: valid ones, and ones with a field missing, replaced or added. */
  const metas = fc.oneof(
    fc.record({ seq: fc.maxSafeNat(), capturedAt: fc.double({ noNaN: true, noDefaultInfinity: true }), width: fc.integer({ min: 1, max: 8192 }), height: fc.integer({ min: 1, max: 8192 }), codec: fc.constant('jpeg') }),
    fc.record({ seq: fc.maxSafeNat(), capturedAt: fc.integer(), width: fc.integer({ min: -1, max: 9000 }), height: fc.constant(48), codec: fc.constantFrom('h264', 'vp8'), key: fc.oneof(fc.boolean(), json), config: fc.option(fc.record({ codec: fc.constantFrom('avc1.42c01e', 'avc1.xyz'), description: fc.base64String({ maxLength: 40 }) }), { nil: undefined }) }, { requiredKeys: ['seq', 'codec'] }),
    fc.dictionary(fc.string({ maxLength: 8 }), json, { maxKeys: 6 }),
  );

  it('property: a frame sent as one binary message is judged exactly as the frame event with the same meta and bytes', () => {
    fc.assert(
      fc.property(metas, fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.constantFrom<Sender>('vehicle', 'user'), (meta, bytes, sender) => {
        const message = encodeFrameMessage(meta as FrameMeta, bytes);
        assert.equal(isBinaryFrame(message), true);
        const binary = parseBinaryFrame(message, sender);
        const event = parseInbound('frame', [JSON.parse(JSON.stringify(meta)), bytes], sender);
        assert.deepEqual({ ...binary, binary: undefined }, { ...event, binary: undefined });
        if (binary.ok) assert.deepEqual(Buffer.from(binary.binary!), Buffer.from(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it("property: the frame meta's fast check accepts only what the schema accepts unchanged, and every meta a vehicle sends", () => {
    const wellFormed = fc.oneof(
      fc.record({ seq: fc.maxSafeNat(), capturedAt: fc.double({ noNaN: true, noDefaultInfinity: true }), width: fc.integer({ min: 1, max: 8192 }), height: fc.integer({ min: 1, max: 8192 }), codec: fc.constant('jpeg') }),
      fc.record({ seq: fc.maxSafeNat(), capturedAt: fc.double({ noNaN: true, noDefaultInfinity: true }), width: fc.integer({ min: 1, max: 8192 }), height: fc.integer({ min: 1, max: 8192 }), codec: fc.constant('h264'), key: fc.constant(false) }),
      fc.record({ seq: fc.maxSafeNat(), capturedAt: fc.integer(), width: fc.integer({ min: 1, max: 8192 }), height: fc.integer({ min: 1, max: 8192 }), codec: fc.constant('h264'), key: fc.boolean(), config: fc.record({ codec: fc.stringMatching(/^avc1\.[0-9A-Fa-f]{6}$/), description: fc.base64String({ minLength: 4, maxLength: 1024 }) }) }),
    );
    // Near misses too: a field replaced by any JSON value, a key added or taken away, a config with its own extras.
    const nearMiss = fc.tuple(wellFormed, fc.constantFrom('seq', 'capturedAt', 'width', 'height', 'codec', 'key', 'config', 'extra', '__proto__'), fc.oneof(json, fc.constant(undefined), fc.constant({ codec: 'avc1.42c01e', description: 'QUJD', x: 1 }), fc.constant(Infinity), fc.constant(-0), fc.constant(2 ** 53))).map(([m, k, v]) => {
      const copy: Record<string, unknown> = JSON.parse(JSON.stringify(m));
      if (v === undefined) delete copy[k];
      else Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true });
      return copy;
    });
    fc.assert(
      fc.property(fc.oneof(wellFormed, nearMiss, metas), (meta) => {
        const viaJson = JSON.parse(JSON.stringify(meta)) as unknown;
        for (const m of [meta, viaJson]) {
          if (!isWellFormedFrameMeta(m)) continue;
          const parsed = FrameMetaSchema.safeParse(m);
          assert.equal(parsed.success, true, JSON.stringify(m));
          assert.deepEqual(parsed.data, m);
        }
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(wellFormed, (meta) => {
        const m = JSON.parse(JSON.stringify(meta)) as unknown;
        if (FrameMetaSchema.safeParse(m).success) assert.equal(isWellFormedFrameMeta(m), true, JSON.stringify(m));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a malformed message before parsing its meta, saying why', () => {
    const meta = { seq: 1, capturedAt: 1, width: 2, height: 2, codec: 'jpeg' } as const;
    const good = encodeFrameMessage(meta, new Uint8Array([0xff, 0xd8, 1, 2]));
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, 2), /starts with 0xa2/],
      [Uint8Array.from([0xa2, 0, 0, 1]), /1 to 2048 bytes/],
      [Uint8Array.from([0xa2, 0x08, 0x01, ...Buffer.from('{}'), 1]), /1 to 2048 bytes/],
      [good.subarray(0, good.length - 4), /the meta, then the frame bytes/],
      [Uint8Array.from([0xa2, 0, 2, 0xc3, 0x28, 1]), /UTF-8 JSON/],
      [Uint8Array.from([0xa2, 0, 2, ...Buffer.from('{x'), 1]), /UTF-8 JSON/],
    ];
    for (const [message, why] of cases) {
      const r = parseBinaryFrame(message, 'vehicle');
      assert.equal(r.ok, false);
      assert.match((r as { message: string }).message, why);
    }
    assert.equal(parseBinaryFrame(good, 'vehicle').ok, true);
    assert.equal(isBinaryFrame(encodeFrameAck({ vehicleId: '6f1c2a52-3c1e-4c7e-9d3f-1b2a3c4d5e6f', seq: 9 })), false);
  });

  it("property: the relay's hand-built frame event is byte for byte what Socket.IO's encoder writes", () => {
    const encoder = new Encoder();
    fc.assert(
      fc.property(metas, fc.uint8Array({ maxLength: 32 }), fc.constantFrom('/relay', '/', '/ns-é'), fc.constantFrom('frame', 'frame"\\'), (meta, bytes, nsp, event) => {
        const buf = Buffer.from(bytes);
        assert.deepEqual(encodeFrameEvent(nsp, event, meta, buf), encoder.encode({ type: 2, nsp, data: [event, meta, buf] }));
      }),
      { numRuns: 500 },
    );
  });
});
