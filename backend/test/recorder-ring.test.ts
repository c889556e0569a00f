import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createRing, recordBytes, RingReader, RingWriter } from '../src/recordings/recorder-ring.js';
import { ControlCodec } from '../src/recordings/recorder-thread.js';

describe('recordings: the ring between the relay and the writer thread', () => {
  it('gives back exactly what was accepted, in order; refuses only when nearly full; an empty ring takes any record that fits', () => {
    const op = fc.oneof(
      fc.record({ read: fc.constant(false as const), json: fc.string({ maxLength: 120, unit: 'binary' }), payload: fc.nat(700), frame: fc.boolean() }),
      fc.record({ read: fc.constant(true as const) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 64, max: 4096 }), fc.nat(256), fc.array(op, { maxLength: 300 }), (capacity, reserveAsked, ops) => {
        const memory = createRing(capacity);
        const [writer, reader] = [new RingWriter(memory), new RingReader(memory)];
        const size = writer.capacity;
        const model: { kind: number; id: number; at: number; json: string; payload: number[] }[] = [];
        let n = 0;
        for (const o of ops) {
          if (o.read) {
            const got: typeof model = [];
            reader.read((kind, id, at, json, payload) => got.push({ kind, id, at, json: json.toString(), payload: [...payload] }));
            assert.deepEqual(got, model.splice(0));
            assert.equal(writer.pending, 0, 'empty once read');
            continue;
          }
          n++;
          const payload = Array.from({ length: o.payload }, (_, i) => (n + i) & 0xff);
          const reserve = o.frame ? reserveAsked : 0;
          const before = writer.pending;
          const ok = writer.write(n & 0xff, n, n / 7, o.json, Uint8Array.from(payload), reserve);
          const bytes = recordBytes(o.json, o.payload);
          if (ok) model.push({ kind: n & 0xff, id: n, at: n / 7, json: o.json, payload });
          else {
            assert.ok(before + 2 * bytes + reserve + 8 > size, `refused with ${before} of ${size} used, ${bytes} needed`);
            assert.equal(writer.pending, before, 'a refused record changes nothing');
          }
          if (before === 0) assert.equal(ok, bytes + reserve < size, 'an empty ring takes whatever fits');
        }
        const rest: number[] = [];
        reader.read((_k, id) => rest.push(id));
        assert.deepEqual(rest, model.map((m) => m.id));
      }),
      { numRuns: 400 },
    );
  });

  it('is refused a size its 32-bit offsets cannot address', () => {
    assert.throws(() => createRing(2 ** 30), /less than 1 GiB/);
    assert.throws(() => createRing(0), /more than none/);
  });

  it('holds between two threads: 200 000 records of every size through a 64 KiB ring, none lost, torn or reordered', async () => {
    const memory = createRing(64 * 1024);
    const writer = new RingWriter(memory);
    // The reader checks every record's bytes against its sequence number, polling as the writer thread does.
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.ring).then(({ RingReader }) => {
         const reader = new RingReader(workerData.memory);
         const pattern = Buffer.from(Array.from({ length: 2256 }, (_, i) => i & 0xff));
         let expected = 1, bad = 0;
         const poll = () => {
           reader.read((kind, id, at, json, payload) => {
             const ok = id === expected && kind === (id & 0xff) && at === id / 3 && json.toString() === 'r' + id &&
               payload.equals(pattern.subarray(id & 0xff, (id & 0xff) + (id % 2000)));
             if (!ok) bad++;
             expected = id + 1;
           });
           if (expected > workerData.total) parentPort.postMessage({ read: expected - 1, bad });
           else setImmediate(poll);
         };
         poll();
       });`,
      { eval: true, workerData: { memory, ring: new URL('../src/recordings/recorder-ring.js', import.meta.url).href, total: 200_000 } },
    );
    const done = new Promise<{ read: number; bad: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let refused = 0;
    // Byte i of record id's payload is (id + i) & 0xff, its length id % 2000.
    const pattern = Buffer.from(Array.from({ length: 2256 }, (_, i) => i & 0xff));
    // A broken ring must fail this test, not hang it (a lost record leaves the reader waiting, a stuck one the writer).
    const deadline = Date.now() + 60_000;
    for (let id = 1; id <= 200_000 && Date.now() < deadline; ) {
      const payload = pattern.subarray(id & 0xff, (id & 0xff) + (id % 2000));
      if (writer.write(id & 0xff, id, id / 3, 'r' + id, payload)) id++;
      else {
        refused++;
        await new Promise((r) => setImmediate(r));
      }
    }
    const result = await Promise.race([done, new Promise<{ read: number; bad: number }>((r) => setTimeout(() => r({ read: -1, bad: -1 }), Math.max(0, deadline - Date.now())).unref())]);
    await worker.terminate();
    assert.deepEqual(result, { read: 200_000, bad: 0 });
    assert.ok(refused > 0, 'the ring was full at times, so wrapping and refusing were both exercised');
  });
});

describe('recordings: controls and acks through the ring', () => {
  it('are stored as exactly JSON.stringify would write them, whatever the numbers and the driver', () => {
    const num = fc.oneof(fc.double(), fc.integer(), fc.constant(-0));
    const control = fc.record({ seq: num, throttle: num, steer: num, sentAt: num, driverId: fc.string({ unit: 'grapheme' }), driver: fc.string({ unit: 'grapheme' }) });
    fc.assert(
      fc.property(fc.array(control, { minLength: 1, maxLength: 20 }), fc.record({ seq: num, rttMs: num }), (controls, ack) => {
        // One codec per side, as one recording has: drivers change within it, and the cache must follow.
        const [relay, writer] = [new ControlCodec(), new ControlCodec()];
        for (const c of controls) {
          const text = Buffer.from(relay.driverText(c));
          const payload = Buffer.from(relay.controlNumbers(c));
          assert.equal(writer.controlJson(text, payload).toString(), JSON.stringify(c));
        }
        assert.equal(writer.ackJson(Buffer.from(relay.ackNumbers(ack))).toString(), JSON.stringify(ack));
      }),
      { numRuns: 300 },
    );
  });
});
