import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createRing, recordBytes, RingReader, RingWriter } from '../src/recordings/recorder-ring.js';

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
        const size = memory.byteLength - 64;
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
    for (let id = 1; id <= 200_000; ) {
      const payload = pattern.subarray(id & 0xff, (id & 0xff) + (id % 2000));
      if (writer.write(id & 0xff, id, id / 3, 'r' + id, payload)) id++;
      else {
        refused++;
        await new Promise((r) => setImmediate(r));
      }
    }
    const result = await done;
    await worker.terminate();
    assert.deepEqual(result, { read: 200_000, bad: 0 });
    assert.ok(refused > 0, 'the ring was full at times, so wrapping and refusing were both exercised');
  });
});
