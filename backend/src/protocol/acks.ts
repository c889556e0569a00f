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

/** Each byte's two hex digits, for reading a vehicle id out of an ack without a string per digit. */
const HEX_BYTE = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));
/** Scratch space for reading the big-endian seq without a DataView per ack. */
const seqBytes = new Uint8Array(8);
const seqValue = new Float64Array(seqBytes.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The ack in a binary message, or why it is not one (the same rules as the `frame:ack` event). */
export function decodeFrameAck(data: Uint8Array): { ok: true; ack: FrameAck } | { ok: false; message: string } {
  if (data.length !== BINARY_FRAME_ACK.bytes || data[0] !== BINARY_FRAME_ACK.tag) return { ok: false, message: `a binary frame ack is ${BINARY_FRAME_ACK.bytes} bytes starting with 0x${BINARY_FRAME_ACK.tag.toString(16)}` };
  // Watchers acknowledge continuously (the relay's most frequent message): read without allocating per byte.
  for (let i = 0; i < 8; i++) seqBytes[LITTLE_ENDIAN ? 7 - i : i] = data[17 + i];
  const seq = seqValue[0];
  if (!Number.isSafeInteger(seq) || seq < 0) return { ok: false, message: 'seq: must be a whole number from 0' };
  const h = (i: number) => HEX_BYTE[data[i]];
  const vehicleId = `${h(1)}${h(2)}${h(3)}${h(4)}-${h(5)}${h(6)}-${h(7)}${h(8)}-${h(9)}${h(10)}-${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}${h(16)}`;
  return { ok: true, ack: { vehicleId, seq } };
}
