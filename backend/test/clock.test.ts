import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClockSync, type ClockAck } from '../src/protocol/index.js';

describe('ClockSync', () => {
  it('takes the offset from the round trip with the shortest time (the midpoint closest to the server’s reading)', async () => {
    // The server's clock is 5 000 ms ahead. Round trips take 40, 4 and 90 ms; the middle one is the honest one.
    let local = 1_000_000;
    const trips = [
      { out: 30, back: 10 },
      { out: 2, back: 2 },
      { out: 10, back: 80 },
    ];
    let i = 0;
    const clock = new ClockSync(
      async (t0): Promise<ClockAck> => {
        const trip = trips[i++];
        local += trip.out;
        const server = local + 5000;
        local += trip.back;
        return { ok: true, t0, server };
      },
      () => local,
    );
    await clock.sync(3);
    assert.equal(clock.synced, true);
    assert.equal(clock.rttMs, 4);
    assert.equal(clock.offset, 5000);
    assert.equal(clock.now(), local + 5000);
  });

  it('ignores an answer to another question, and stays unsynced with none', async () => {
    const clock = new ClockSync(async () => ({ ok: true as const, t0: -1, server: 0 }));
    await clock.sync(2);
    assert.equal(clock.synced, false);
    assert.equal(clock.offset, 0);
  });
});
