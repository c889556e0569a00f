import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BINARY_FRAME_ACK, decodeFrameAck, encodeFrameAck, FrameAcker, isBinaryFrameAck, RELAY_LIMITS, type FrameAck, type FrameMeta } from '../src/protocol/index.js';
import { VideoChannel, type Frame } from '../src/relay/video-channel.js';
import { sleep } from './helpers/sockets.js';

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
    assert.equal(ch.ack('a', 0), true);
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
    assert.equal(ch.ack('w', 3), true);
    assert.deepEqual(got('w'), [0, 1, 2, 3, 8, 9], 'resumed from the key frame 8, never with 4–7');
  });

  it('acks are cumulative: one ack settles every earlier frame, even when the acked one was sent outside the window', () => {
    const { ch, got } = channel();
    ch.push(h264(0, true), Buffer.alloc(10));
    ch.push(h264(1), Buffer.alloc(10));
    ch.push(h264(2), Buffer.alloc(10));
    ch.watch('w', 'u', 'W', 'h264'); // 0 and 1 sent without credit, 2 with
    ch.push(h264(3), Buffer.alloc(10));
    assert.equal(ch.ack('w', 1), false, 'nothing in flight up to 1');
    assert.equal(ch.ack('w', 3), true);
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
