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

/**
 * A frame ack as one binary Engine.IO message of its own, outside any Socket.IO packet: a tag byte, the vehicle id's
 * 16 bytes, the sequence number as a big-endian float64. Watchers acknowledge continuously, so acks are the relay's
 * most frequent inbound message; in this form the server reads them without the Socket.IO parser, JSON or the
 * event dispatcher (see the relay gateway). The `frame:ack` event stays for clients that cannot send raw
 * Engine.IO messages; both reach the same flow control.
 */
export const BINARY_FRAME_ACK = { tag: 0xa1, bytes: 25 } as const;

const HEX = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeFrameAck(ack: FrameAck): Uint8Array {
  const id = ack.vehicleId.toLowerCase();
  if (!HEX.test(id)) throw new Error('vehicleId must be a uuid');
  const out = new Uint8Array(BINARY_FRAME_ACK.bytes);
  out[0] = BINARY_FRAME_ACK.tag;
  const hex = id.replaceAll('-', '');
  for (let i = 0; i < 16; i++) out[1 + i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  new DataView(out.buffer).setFloat64(17, ack.seq);
  return out;
}

/** Whether a binary message is meant as a frame ack (by its tag): such a message is answered, never dropped silently. */
export function isBinaryFrameAck(data: unknown): data is Uint8Array {
  return data instanceof Uint8Array && data.length > 0 && data[0] === BINARY_FRAME_ACK.tag;
}

/** The ack in a binary message, or why it is not one (the same rules as the `frame:ack` event). */
export function decodeFrameAck(data: Uint8Array): { ok: true; ack: FrameAck } | { ok: false; message: string } {
  if (data.length !== BINARY_FRAME_ACK.bytes || data[0] !== BINARY_FRAME_ACK.tag) return { ok: false, message: `a binary frame ack is ${BINARY_FRAME_ACK.bytes} bytes starting with 0x${BINARY_FRAME_ACK.tag.toString(16)}` };
  const seq = new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat64(17);
  if (!Number.isSafeInteger(seq) || seq < 0) return { ok: false, message: 'seq: must be a whole number from 0' };
  let hex = '';
  for (let i = 1; i < 17; i++) hex += (data[i] < 16 ? '0' : '') + data[i].toString(16);
  const vehicleId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { ok: true, ack: { vehicleId, seq } };
}
