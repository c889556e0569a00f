import type { ClockAck } from './relay.js';

/**
 * The offset of this client's clock to the server's, NTP-style: several `clock` round trips, and the one with the
 * shortest round trip wins (its midpoint is closest to when the server read its clock). Vehicle, server and browser
 * clocks differ on the internet; with this, capture times, control times and latencies are all in server time.
 */
export class ClockSync {
  /** Server time minus local time, in ms. */
  offset = 0;
  /** Round trip of the sample the offset came from. */
  rttMs = Infinity;
  synced = false;

  constructor(private readonly ask: (t0: number) => Promise<ClockAck>, private readonly local: () => number = () => Date.now()) {}

  /** The server's time now, as far as this client can tell. */
  now(): number {
    return this.local() + this.offset;
  }

  /** Takes `samples` round trips and keeps the best; a later sync replaces an older, worse estimate. */
  async sync(samples = 5): Promise<void> {
    let best: { offset: number; rtt: number } | null = null;
    for (let i = 0; i < samples; i++) {
      const t0 = this.local();
      const ack = await this.ask(t0);
      const t1 = this.local();
      if (ack.t0 !== t0) continue;
      const rtt = t1 - t0;
      const offset = ack.server - (t0 + t1) / 2;
      if (!best || rtt < best.rtt) best = { offset, rtt };
    }
    if (!best) return;
    this.offset = best.offset;
    this.rttMs = best.rtt;
    this.synced = true;
  }
}
