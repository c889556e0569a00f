import { Worker } from 'node:worker_threads';
import { createRing, RingWriter } from './recorder-ring.js';
import type { FrameMeta, RecordedControl, RecordedControlAck, RecordedEvent } from '../protocol/index.js';

/** What the recordings service writes a drive through: one MCAP file, fed as the drive happens. */
export interface Recorder {
  readonly path: string;
  /** Why the recording stopped early (a full disk, a failed write); null while it is well. */
  readonly error: Error | null;
  frame(meta: FrameMeta, bytes: Buffer, at?: number): void;
  controlReceived(c: RecordedControl, at?: number): void;
  controlForwarded(c: RecordedControl, at?: number): void;
  controlAck(a: RecordedControlAck, at?: number): void;
  telemetry(t: Record<string, unknown>, at?: number): void;
  event(e: RecordedEvent, at?: number): void;
  /** Ends the file (summary and index); resolves with its size. */
  close(): Promise<number>;
}

/** What a record in the ring holds, by its kind byte. */
export const RECORD_KINDS = ['frame', 'controlReceived', 'controlForwarded', 'controlAck', 'telemetry', 'event'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];
const KIND = Object.fromEntries(RECORD_KINDS.map((k, i) => [k, i])) as Record<RecordKind, number>;

/** Calls into the writer thread other than the drives' messages (those go through the ring); each is answered. */
export type ThreadCall =
  | { op: 'create'; id: number; path: string; meta: Record<string, string>; reply: number }
  | { op: 'close'; id: number; reply: number }
  | { op: 'drain'; reply: number };
export type ThreadAnswer = { reply: number; value?: number; error?: string } | { failed: number; error: string };
/** What the thread starts with. */
export interface ThreadData {
  ring: SharedArrayBuffer;
  pollMs: number;
}

/**
 * The bytes of drive messages handed to the writer thread and not yet taken in, at most: the ring's size. The thread
 * yields to the relay (it runs at the lowest priority); a machine too busy to let it keep up loses messages from the
 * recordings, never memory. Frames go first: they may not use the last `RECORDER_RESERVE_BYTES`, which keep room for
 * the controls, acks and events. An H.264 drive that lost a frame waits for its next key frame. The memory is touched
 * only as far as the thread falls behind: the ring starts again at its front whenever the thread has caught up.
 */
export const RECORDER_BACKLOG_BYTES = 64 * 1024 * 1024;
export const RECORDER_RESERVE_BYTES = 1024 * 1024;

/**
 * How often the writer thread takes in what the relay handed over, while a recording is open. The relay's thread
 * never wakes it: it only writes into the ring. A crash loses these milliseconds with the rest of the unwritten chunk.
 */
export const RECORDER_POLL_MS = 50;

export interface RecorderThreadOptions {
  /** The ring's size (RECORDER_BACKLOG_BYTES). */
  backlogBytes?: number;
  /** Room kept for everything but frames (RECORDER_RESERVE_BYTES, at most half the ring). */
  reserveBytes?: number;
  /** RECORDER_POLL_MS. */
  pollMs?: number;
}

/**
 * The recordings' writer thread. Encoding pictures as JSON, building chunks, their CRCs and the file writes happen
 * there, not on the relay's thread: the relay writes each message into a shared ring (a copy of its bytes, see
 * recorder-ring.ts), which the thread reads every `RECORDER_POLL_MS`. Opening and closing a file are messages, each
 * answered; a close is taken after everything written to the ring before it.
 */
export class RecorderThread {
  private worker: Worker | null = null;
  private ring: RingWriter | null = null;
  private nextId = 1;
  private nextReply = 1;
  private readonly replies = new Map<number, { resolve(v: number): void; reject(e: Error): void }>();
  private readonly recordings = new Map<number, ThreadedRecording>();
  private readonly backlogLimit: number;
  private readonly reserve: number;
  private readonly pollMs: number;
  /** Frames dropped because the thread was behind, since the start. */
  framesDropped = 0;
  /** Controls, acks, telemetry and events dropped because the thread was further behind still. */
  messagesDropped = 0;
  /** Told of the first message dropped after the thread had kept up. */
  onBehind?: () => void;
  private behind = false;

  constructor(options: RecorderThreadOptions = {}) {
    this.backlogLimit = options.backlogBytes ?? RECORDER_BACKLOG_BYTES;
    this.reserve = Math.min(options.reserveBytes ?? RECORDER_RESERVE_BYTES, Math.floor(this.backlogLimit / 2));
    this.pollMs = options.pollMs ?? RECORDER_POLL_MS;
  }

  /** Bytes handed over and not yet taken in by the thread. */
  get backlogBytes(): number {
    return this.ring?.pending ?? 0;
  }

  /** Opens a file in the thread; resolves once it exists (or rejects, e.g. when it does already). */
  async create(path: string, meta: Record<string, string>): Promise<Recorder> {
    const rec = new ThreadedRecording(this, this.nextId++, path);
    this.recordings.set(rec.id, rec);
    try {
      await this.call({ op: 'create', id: rec.id, path, meta, reply: 0 });
      return rec;
    } catch (err) {
      this.recordings.delete(rec.id);
      this.hold();
      throw err;
    }
  }

  /** Resolves once the thread has taken in everything handed over so far. */
  async drained(): Promise<void> {
    if (this.worker) await this.call({ op: 'drain', reply: 0 });
  }

  /** Stops the thread (after the recordings were closed). */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.ring = null;
    await w?.terminate();
  }

  /** One message of a recording into the ring, as JSON; false when it was dropped (the thread too far behind). */
  add(id: number, kind: RecordKind, at: number, body: unknown, payload: Uint8Array | null = null): boolean {
    let json: string;
    try {
      json = JSON.stringify(body);
    } catch {
      // Not JSON (a relayed message is, having been parsed from it): nothing to record.
      this.messagesDropped++;
      return false;
    }
    return this.put(id, kind, at, json, payload);
  }

  /** One message into the ring as it is (text and bytes, as the thread reads that kind); false when dropped. */
  put(id: number, kind: RecordKind, at: number, text: string | Uint8Array, payload: Uint8Array | null = null): boolean {
    const ring = this.ring;
    if (!ring) return false;
    const frame = kind === 'frame';
    if (ring.write(KIND[kind], id, at, text, payload, frame ? this.reserve : 0)) {
      this.behind = false;
      return true;
    }
    if (frame) this.framesDropped++;
    else this.messagesDropped++;
    if (!this.behind) this.onBehind?.();
    this.behind = true;
    return false;
  }

  async close(rec: ThreadedRecording): Promise<number> {
    try {
      return await this.call({ op: 'close', id: rec.id, reply: 0 });
    } finally {
      this.recordings.delete(rec.id);
      this.hold();
    }
  }

  private call(c: ThreadCall): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      c.reply = this.nextReply++;
      this.replies.set(c.reply, { resolve, reject });
      this.thread().postMessage(c);
      this.hold();
    });
  }

  /**
   * The thread keeps the process up while it has work (an open file, an answer awaited: a shutdown must not cut a
   * file's summary short), and not when idle.
   */
  private hold(): void {
    if (!this.worker) return;
    if (this.recordings.size || this.replies.size) this.worker.ref();
    else this.worker.unref();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const memory = createRing(this.backlogLimit);
    const data: ThreadData = { ring: memory, pollMs: this.pollMs };
    const w = new Worker(new URL('./recorder.worker.js', import.meta.url), { workerData: data });
    w.on('message', (a: ThreadAnswer) => {
      if ('failed' in a) this.recordings.get(a.failed)?.fail(new Error(a.error));
      else {
        const r = this.replies.get(a.reply);
        this.replies.delete(a.reply);
        if (a.error !== undefined) r?.reject(new Error(a.error));
        else r?.resolve(a.value ?? 0);
      }
      this.hold();
    });
    // A thread that dies takes its open files with it: they end (as after a crash, repaired on the next start) and
    // the next recording starts a new thread, with a new ring.
    const lost = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      this.ring = null;
      for (const rec of this.recordings.values()) rec.fail(err);
      for (const r of this.replies.values()) r.reject(err);
      this.replies.clear();
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`the recorder thread exited (${code})`)));
    this.worker = w;
    this.ring = new RingWriter(memory);
    return w;
  }
}

/** A number as JSON.stringify writes it. */
const jsonNumber = (x: number) => (Number.isFinite(x) ? String(x) : 'null');

/**
 * How controls and acks, most of what a drive records, cross the ring. The relay's thread puts in their numbers (the
 * payload) and the driver's id and name (the text); the writer thread turns those into the JSON a recording stores:
 * exactly JSON.stringify of the RecordedControl or RecordedControlAck, built without an object in between (the writer
 * does this 150 times a second per drive, and its garbage is collected by threads that share the relay's cores). One
 * codec per recording on either side: the driver's part is encoded once per drive.
 */
export class ControlCodec {
  private readonly numbers = new Float64Array(5);
  private readonly numberBytes = new Uint8Array(this.numbers.buffer);
  private driver: { id: string; name: string; text: Uint8Array } | null = null;
  private text: Buffer | null = null;
  private tail = '';

  /** The relay's side: a control's numbers, valid until the next call (the ring copies them in at once). */
  controlNumbers(c: RecordedControl): Uint8Array {
    const n = this.numbers;
    n[0] = c.seq;
    n[1] = c.throttle;
    n[2] = c.steer;
    n[3] = c.sentAt;
    n[4] = c.driverId.length;
    return this.numberBytes;
  }

  /** The relay's side: a control's driver, id then name, as UTF-8. */
  driverText(c: RecordedControl): Uint8Array {
    if (c.driverId !== this.driver?.id || c.driver !== this.driver.name) this.driver = { id: c.driverId, name: c.driver, text: Buffer.from(c.driverId + c.driver) };
    return this.driver.text;
  }

  /** The relay's side: an ack's numbers, valid until the next call. */
  ackNumbers(a: RecordedControlAck): Uint8Array {
    this.numbers[0] = a.seq;
    this.numbers[1] = a.rttMs;
    return this.numberBytes.subarray(0, 16);
  }

  /** The writer's side: a control as JSON. */
  controlJson(text: Buffer, payload: Buffer): Buffer {
    if (!this.text?.equals(text)) {
      const idAndName = text.toString();
      const idLength = payload.readDoubleLE(32);
      this.text = Buffer.from(text);
      this.tail = `,"driverId":${JSON.stringify(idAndName.slice(0, idLength))},"driver":${JSON.stringify(idAndName.slice(idLength))}}`;
    }
    const [seq, throttle, steer, sentAt] = [payload.readDoubleLE(0), payload.readDoubleLE(8), payload.readDoubleLE(16), payload.readDoubleLE(24)];
    return Buffer.from(`{"seq":${jsonNumber(seq)},"throttle":${jsonNumber(throttle)},"steer":${jsonNumber(steer)},"sentAt":${jsonNumber(sentAt)}${this.tail}`);
  }

  /** The writer's side: an ack as JSON. */
  ackJson(payload: Buffer): Buffer {
    return Buffer.from(`{"seq":${jsonNumber(payload.readDoubleLE(0))},"rttMs":${jsonNumber(payload.readDoubleLE(8))}}`);
  }
}

/** One drive's file, written by the thread; every call returns at once. */
class ThreadedRecording implements Recorder {
  private failed: Error | null = null;
  private closed = false;
  /** An H.264 frame was dropped: what follows cannot decode until the next key frame, so it waits for one. */
  private awaitingKey = false;
  /** A drive has one driver (mostly): its part of the controls is encoded once, here and in the thread. */
  private readonly codec = new ControlCodec();

  constructor(
    private readonly thread: RecorderThread,
    readonly id: number,
    readonly path: string,
  ) {}

  get error(): Error | null {
    return this.failed;
  }

  fail(err: Error): void {
    this.failed ??= err;
  }

  frame(meta: FrameMeta, bytes: Buffer, at = Date.now()): void {
    if (this.closed || this.failed) return;
    const h264 = meta.codec === 'h264';
    if (h264 && this.awaitingKey && !meta.key) return;
    const taken = this.thread.add(this.id, 'frame', at, meta, bytes);
    if (h264) this.awaitingKey = !taken;
  }

  controlReceived(c: RecordedControl, at = Date.now()): void {
    this.control('controlReceived', c, at);
  }

  controlForwarded(c: RecordedControl, at = Date.now()): void {
    this.control('controlForwarded', c, at);
  }

  controlAck(a: RecordedControlAck, at = Date.now()): void {
    if (this.closed || this.failed) return;
    this.thread.put(this.id, 'controlAck', at, '', this.codec.ackNumbers(a));
  }

  telemetry(t: Record<string, unknown>, at = Date.now()): void {
    this.add('telemetry', t, at);
  }

  event(e: RecordedEvent, at = Date.now()): void {
    this.add('event', e, at);
  }

  async close(): Promise<number> {
    if (this.closed) return 0;
    this.closed = true;
    return this.thread.close(this);
  }

  /** Controls go over as their numbers and their driver (ControlCodec): JSON is the writer thread's work. */
  private control(kind: 'controlReceived' | 'controlForwarded', c: RecordedControl, at: number): void {
    if (this.closed || this.failed) return;
    this.thread.put(this.id, kind, at, this.codec.driverText(c), this.codec.controlNumbers(c));
  }

  private add(kind: Exclude<RecordKind, 'frame'>, body: unknown, at: number): void {
    if (this.closed || this.failed) return;
    this.thread.add(this.id, kind, at, body);
  }
}
