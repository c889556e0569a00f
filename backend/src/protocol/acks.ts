import { RELAY_LIMITS, type FrameAck, type VideoCodec } from './relay.js';

/**
 * Acknowledges drawn frames the way the relay expects them (see `RELAY_LIMITS.ackEvery`): one cumulative ack for
 * every few frames, flushed soon after the last one so that a paused stream does not hold its credit. Fewer acks
 * are fewer messages for the server to parse for each delivered frame.
 */
export class FrameAcker {
  private pending: FrameAck | null = null;
  private count = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly send: (ack: FrameAck) => void) {}

  /** A frame was drawn (or given up on): it and everything before it are settled. */
  drawn(codec: VideoCodec, vehicleId: string, seq: number): void {
    if (this.pending && this.pending.vehicleId !== vehicleId) this.flush();
    this.pending = { vehicleId, seq };
    if (++this.count >= RELAY_LIMITS.ackEvery[codec]) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), RELAY_LIMITS.ackFlushMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.count = 0;
    const ack = this.pending;
    this.pending = null;
    if (ack) this.send(ack);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    this.count = 0;
  }
}
