/**
 * The hand-over from the relay's thread to the recordings' writer thread: one byte ring in shared memory, one
 * producer (the relay) and one consumer (the writer). The relay writes a message's bytes and moves the write offset;
 * the writer, polling at its own pace, reads up to it and moves the read offset. Neither ever waits for the other,
 * and the relay makes no system call, sets no timer and allocates no buffer to record a message.
 *
 * Both offsets live in one 64-bit word (write offset high, read offset low), changed by compare-and-swap: so the
 * reader, having read everything, can send both back to the front of the ring in one step that fails if a record
 * came meanwhile. A writer that keeps up therefore touches only the ring's first pages, however large the ring.
 *
 * A record, 8-byte aligned: its length (u32, padding not counted), kind (u8), recording id (u32), log time (f64, ms), the length of its
 * JSON part (u32), the JSON, then its payload bytes (a frame's picture). A total length of WRAP sends the reader
 * back to the front.
 */

/** The offsets' word, alone in its 64-byte cache line. */
const CONTROL_BYTES = 64;
const HEADER = 24;
const WRAP = 0xffffffff;
const LOW = 0xffffffffn;
const align8 = (n: number) => (n + 7) & ~7;
const pack = (w: number, r: number) => (BigInt(w) << 32n) | BigInt(r);

/** Bytes a record takes in the ring: its header, its text as UTF-8 and its payload, 8-byte aligned. */
export const recordBytes = (text: string, payloadBytes: number) => align8(HEADER + Buffer.byteLength(text) + payloadBytes);

/** The shared memory of a ring that holds `capacity` bytes of records. */
export function createRing(capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(CONTROL_BYTES + align8(capacity));
}

class Ring {
  protected readonly offsets: BigInt64Array;
  protected readonly view: DataView;
  protected readonly bytes: Buffer;
  protected readonly capacity: number;

  constructor(readonly memory: SharedArrayBuffer) {
    this.offsets = new BigInt64Array(memory, 0, 1);
    this.capacity = memory.byteLength - CONTROL_BYTES;
    this.view = new DataView(memory, CONTROL_BYTES, this.capacity);
    this.bytes = Buffer.from(memory, CONTROL_BYTES, this.capacity);
  }

  /** Bytes written and not yet read (a skipped end of the ring included). */
  get pending(): number {
    const word = Atomics.load(this.offsets, 0);
    return this.used(Number(word >> 32n), Number(word & LOW));
  }

  protected used(w: number, r: number): number {
    return w >= r ? w - r : this.capacity - r + w;
  }
}

/** The relay's end. */
export class RingWriter extends Ring {
  /**
   * Appends one record; false when it does not fit in the free space less `reserve` bytes (nothing is published
   * then). `payload` is copied in.
   */
  write(kind: number, id: number, at: number, json: string, payload: Uint8Array | null = null, reserve = 0): boolean {
    const jsonBytes = Buffer.byteLength(json);
    const length = HEADER + jsonBytes + (payload?.byteLength ?? 0);
    const need = align8(length);
    for (;;) {
      const word = Atomics.load(this.offsets, 0);
      const w = Number(word >> 32n);
      const r = Number(word & LOW);
      // Never quite full, so that equal offsets always mean empty.
      if (this.used(w, r) + need + reserve >= this.capacity) return false;
      let start: number;
      if (w >= r) {
        if (w + need < this.capacity || (w + need === this.capacity && r !== 0)) start = w;
        else if (need < r) start = 0;
        else return false;
      } else if (w + need < r) start = w;
      else return false;
      if (start === 0 && w !== 0) this.view.setUint32(w, WRAP, true);
      const v = this.view;
      v.setUint32(start, length, true);
      v.setUint8(start + 4, kind);
      v.setUint32(start + 8, id, true);
      v.setFloat64(start + 12, at, true);
      v.setUint32(start + 20, jsonBytes, true);
      this.bytes.write(json, start + HEADER, jsonBytes, 'utf8');
      if (payload) this.bytes.set(payload, start + HEADER + jsonBytes);
      // Publishing: everything written above is visible to a reader that sees the new offset. If the reader moved
      // meanwhile (it read, or sent an empty ring back to the front), place the record again.
      const next = start + need;
      if (Atomics.compareExchange(this.offsets, 0, word, pack(next === this.capacity ? 0 : next, r)) === word) return true;
    }
  }
}

/** The writer thread's end. */
export class RingReader extends Ring {
  /**
   * Hands every complete record to `each`, in order; the views it gets are valid during the call only (the space is
   * reused once it returns). Returns how many records were read.
   */
  read(each: (kind: number, id: number, at: number, json: Buffer, payload: Buffer) => void): number {
    let word = Atomics.load(this.offsets, 0);
    const w = Number(word >> 32n);
    let r = Number(word & LOW);
    let n = 0;
    while (r !== w) {
      if (this.view.getUint32(r, true) === WRAP) {
        r = 0;
        if (r === w) break;
      }
      const len = this.view.getUint32(r, true);
      const jsonBytes = this.view.getUint32(r + 20, true);
      const start = r + HEADER;
      try {
        each(this.view.getUint8(r + 4), this.view.getUint32(r + 8, true), this.view.getFloat64(r + 12, true), this.bytes.subarray(start, start + jsonBytes), this.bytes.subarray(start + jsonBytes, r + len));
      } finally {
        r += align8(len);
        if (r === this.capacity) r = 0;
        word = this.advance(r);
        n++;
      }
    }
    // Empty: both offsets back to the front, unless the relay wrote a record since.
    if (r === Number(word >> 32n) && r !== 0) Atomics.compareExchange(this.offsets, 0, word, 0n);
    return n;
  }

  /** Moves the read offset, keeping whatever the write offset is now; returns the word as left. */
  private advance(r: number): bigint {
    for (;;) {
      const word = Atomics.load(this.offsets, 0);
      const next = (word & ~LOW) | BigInt(r);
      if (Atomics.compareExchange(this.offsets, 0, word, next) === word) return next;
    }
  }
}
