/**
 * The hand-over from the relay's thread to the recordings' writer thread: one byte ring in shared memory, one
 * producer (the relay) and one consumer (the writer). The relay writes a message's bytes and moves the write offset;
 * the writer, polling at its own pace, reads up to it and moves the read offset. Neither ever waits for the other,
 * and the relay makes no system call, sets no timer and allocates nothing to record a message.
 *
 * The offsets are two 32-bit words, each in a cache line of its own. The reader, having read everything, sends the
 * ring back to its front, so that a writer that keeps up touches only the ring's first pages however large the
 * ring: it marks the write offset RESET (by compare-and-swap: a record published meanwhile keeps it), sets the read
 * offset to 0, then the write offset to 0. The relay publishes each record by compare-and-swap of the write offset,
 * placing it again if that moved; a relay that finds RESET does the reader's second step itself (the same store) and
 * writes at the front, never waiting for the reader.
 *
 * A record, 8-byte aligned: its length (u32, padding not counted), kind (u8), recording id (u32), log time (f64, ms),
 * the length of its text (u32), the text, then its payload bytes (a frame's picture). A length of WRAP sends the
 * reader back to the front.
 */

/** Write offset at byte 0, read offset at byte 64: a cache line each. */
const CONTROL_BYTES = 128;
const W = 0;
const R = 16;
const RESET = -1;
const HEADER = 24;
const WRAP = 0xffffffff;
const align8 = (n: number) => (n + 7) & ~7;

/** Bytes a record takes in the ring: its header, its text and its payload, 8-byte aligned. */
export const recordBytes = (text: string | Uint8Array, payloadBytes: number) => align8(HEADER + (typeof text === 'string' ? Buffer.byteLength(text) : text.byteLength) + payloadBytes);

/** The shared memory of a ring that holds `capacity` bytes of records (under 1 GiB: the offsets are 32-bit). */
export function createRing(capacity: number): SharedArrayBuffer {
  if (!(capacity > 0 && capacity < 2 ** 30)) throw new RangeError(`a ring holds less than 1 GiB of records, and more than none: not ${capacity} bytes`);
  return new SharedArrayBuffer(CONTROL_BYTES + align8(capacity));
}

class Ring {
  protected readonly offsets: Int32Array;
  protected readonly view: DataView;
  protected readonly bytes: Buffer;
  /** Bytes of records it holds. */
  readonly capacity: number;

  constructor(readonly memory: SharedArrayBuffer) {
    this.offsets = new Int32Array(memory, 0, CONTROL_BYTES / 4);
    this.capacity = memory.byteLength - CONTROL_BYTES;
    this.view = new DataView(memory, CONTROL_BYTES, this.capacity);
    this.bytes = Buffer.from(memory, CONTROL_BYTES, this.capacity);
  }

  /** Bytes written and not yet read (a skipped end of the ring included). */
  get pending(): number {
    const w = Atomics.load(this.offsets, W);
    return w === RESET ? 0 : this.used(w, Atomics.load(this.offsets, R));
  }

  protected used(w: number, r: number): number {
    return w >= r ? w - r : this.capacity - r + w;
  }
}

/** The relay's end. */
export class RingWriter extends Ring {
  /**
   * Appends one record; false when it does not fit in the free space less `reserve` bytes (nothing is published
   * then). `text` is stored as UTF-8 (a string) or as it is (bytes); `payload` is copied in.
   */
  write(kind: number, id: number, at: number, text: string | Uint8Array, payload: Uint8Array | null = null, reserve = 0): boolean {
    const textBytes = typeof text === 'string' ? Buffer.byteLength(text) : text.byteLength;
    const length = HEADER + textBytes + (payload?.byteLength ?? 0);
    const need = align8(length);
    for (;;) {
      const seen = Atomics.load(this.offsets, W);
      let w = seen;
      if (w === RESET) {
        // The reader read everything and is sending the ring to its front: its next step, done here.
        Atomics.store(this.offsets, R, 0);
        w = 0;
      }
      const r = Atomics.load(this.offsets, R);
      // Never quite full, so that equal offsets always mean empty.
      if (this.used(w, r) + need + reserve >= this.capacity) return false;
      let start: number;
      if (w >= r) {
        if (w + need < this.capacity || (w + need === this.capacity && r !== 0)) start = w;
        else if (need < r) start = 0;
        else return false;
      } else if (w + need < r) start = w;
      else return false;
      const v = this.view;
      if (start === 0 && w !== 0) v.setUint32(w, WRAP, true);
      v.setUint32(start, length, true);
      v.setUint8(start + 4, kind);
      v.setUint32(start + 8, id, true);
      v.setFloat64(start + 12, at, true);
      v.setUint32(start + 20, textBytes, true);
      if (typeof text === 'string') this.bytes.write(text, start + HEADER, textBytes, 'utf8');
      else this.bytes.set(text, start + HEADER);
      if (payload) this.bytes.set(payload, start + HEADER + textBytes);
      // Publishing: everything written above is visible to a reader that sees the new offset. If the reader sent
      // the ring to its front meanwhile, the record is placed again.
      const next = start + need;
      if (Atomics.compareExchange(this.offsets, W, seen, next === this.capacity ? 0 : next) === seen) return true;
    }
  }
}

/** The writer thread's end. */
export class RingReader extends Ring {
  /**
   * Hands every complete record to `each`, in order; the views it gets are valid during the call only (the space is
   * reused once it returns). Returns how many records were read.
   */
  read(each: (kind: number, id: number, at: number, text: Buffer, payload: Buffer) => void): number {
    const w = Atomics.load(this.offsets, W);
    if (w === RESET) return 0; // never seen: a reset begun below ends below
    let r = Atomics.load(this.offsets, R);
    let n = 0;
    while (r !== w) {
      if (this.view.getUint32(r, true) === WRAP) {
        r = 0;
        if (r === w) break;
      }
      const len = this.view.getUint32(r, true);
      const textBytes = this.view.getUint32(r + 20, true);
      const start = r + HEADER;
      try {
        each(this.view.getUint8(r + 4), this.view.getUint32(r + 8, true), this.view.getFloat64(r + 12, true), this.bytes.subarray(start, start + textBytes), this.bytes.subarray(start + textBytes, r + len));
      } finally {
        r += align8(len);
        if (r === this.capacity) r = 0;
        Atomics.store(this.offsets, R, r);
        n++;
      }
    }
    // Empty: both offsets back to the front, unless the relay published a record since.
    if (r !== 0 && Atomics.compareExchange(this.offsets, W, w, RESET) === w) {
      Atomics.store(this.offsets, R, 0);
      Atomics.compareExchange(this.offsets, W, RESET, 0);
    }
    return n;
  }
}
