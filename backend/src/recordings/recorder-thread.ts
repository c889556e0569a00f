import { Worker } from 'node:worker_threads';
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

/** Calls into the writer thread. `add` carries one message of a drive; the others answer through `reply`. */
export type ThreadCall =
  | { op: 'create'; id: number; path: string; meta: Record<string, string>; reply: number }
  | { op: 'add'; id: number; kind: 'frame'; meta: FrameMeta; bytes: Uint8Array; at: number }
  | { op: 'add'; id: number; kind: 'controlReceived' | 'controlForwarded' | 'controlAck' | 'telemetry' | 'event'; body: unknown; at: number }
  | { op: 'close'; id: number; reply: number };
export type ThreadAnswer = { reply: number; value?: number; error?: string } | { failed: number; error: string } | { consumed: number };

/**
 * Frame bytes handed to the writer thread and not yet taken in by it, at most. The thread yields to the relay (it
 * runs at the lowest priority); a machine too busy to let it keep up loses frames from the recordings, never memory:
 * over the budget a frame is dropped, and an H.264 drive then waits for its next key frame.
 */
export const RECORDER_BACKLOG_BYTES = 64 * 1024 * 1024;

/**
 * A drive's messages go to the writer thread in batches at most this old: each batch wakes the thread, and on a
 * machine whose cores the relay needs, a few wake-ups a second contend less than one per message. A crash loses
 * these milliseconds with the rest of the unwritten chunk.
 */
export const RECORDER_BATCH_MS = 50;

/**
 * At most this many messages go over in one batch. Handing a batch to the thread copies it on the relay's thread
 * (about half a microsecond a message): 50 drives fill 50 ms with some 375 messages, a stall of a few hundred
 * microseconds in one piece; slices keep each one to tens.
 */
export const RECORDER_SLICE = 32;

type AddCall = Extract<ThreadCall, { op: 'add' }>;

/**
 * The recordings' writer thread. Encoding messages as JSON, building chunks, their CRCs and the file writes happen
 * there, not on the relay's thread: the relay only queues each message, and the queue goes over every
 * `RECORDER_BATCH_MS` (one postMessage for everything that happened meanwhile; at once when an answer is awaited).
 */
export class RecorderThread {
  private worker: Worker | null = null;
  private batch: ThreadCall[] = [];
  private transfer: ArrayBuffer[] = [];
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private nextReply = 1;
  private readonly replies = new Map<number, { resolve(v: number): void; reject(e: Error): void }>();
  private readonly recordings = new Map<number, ThreadedRecording>();
  /** Frame bytes posted to the thread and not yet taken in (see RECORDER_BACKLOG_BYTES). */
  private backlog = 0;
  /** Frames dropped because the thread was behind, since the start. */
  framesDropped = 0;
  /** Told of the first frame dropped after the thread had kept up. */
  onBehind?: () => void;
  private behind = false;

  constructor(private readonly backlogLimit = RECORDER_BACKLOG_BYTES) {}

  /** Frame bytes handed over and not yet taken in by the thread. */
  get backlogBytes(): number {
    return this.backlog;
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

  /** Stops the thread (after the recordings were closed). */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  add(call: AddCall, transfer?: ArrayBuffer): void {
    this.batch.push(call);
    if (transfer) this.transfer.push(transfer);
    // A full slice goes at once: copying a batch into the thread blocks the relay's thread for as long as it takes.
    if (this.batch.length >= RECORDER_SLICE) this.send();
    else this.schedule(RECORDER_BATCH_MS);
  }

  /** A frame for the thread, unless it is too far behind (then false: the frame is dropped). */
  addFrame(call: Extract<AddCall, { kind: 'frame' }>): boolean {
    const size = call.bytes.byteLength;
    if (this.backlog > 0 && this.backlog + size > this.backlogLimit) {
      this.framesDropped++;
      if (!this.behind) this.onBehind?.();
      this.behind = true;
      return false;
    }
    this.behind = false;
    this.backlog += size;
    this.add(call, call.bytes.buffer as ArrayBuffer);
    return true;
  }

  async close(rec: ThreadedRecording): Promise<number> {
    try {
      return await this.call({ op: 'close', id: rec.id, reply: 0 });
    } finally {
      this.recordings.delete(rec.id);
      this.hold();
    }
  }

  private call(c: Extract<ThreadCall, { reply: number }>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      c.reply = this.nextReply++;
      this.replies.set(c.reply, { resolve, reject });
      this.batch.push(c);
      this.schedule();
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

  /** Sends the batch in `ms` (or sooner, when something that waits for an answer joins it). */
  private schedule(ms = 0): void {
    if (this.scheduled && (ms > 0 || !this.timer)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.scheduled = true;
    if (ms > 0) {
      this.timer = setTimeout(() => this.send(), ms);
      this.timer.unref();
    } else setImmediate(() => this.send());
  }

  private send(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.scheduled = false;
    if (!this.batch.length) return;
    const [batch, transfer] = [this.batch, this.transfer];
    this.batch = [];
    this.transfer = [];
    this.thread().postMessage(batch, transfer);
    this.hold();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./recorder.worker.js', import.meta.url));
    w.on('message', (answers: ThreadAnswer[]) => {
      for (const a of answers) {
        if ('consumed' in a) {
          this.backlog = Math.max(0, this.backlog - a.consumed);
          continue;
        }
        if ('failed' in a) {
          this.recordings.get(a.failed)?.fail(new Error(a.error));
          continue;
        }
        const r = this.replies.get(a.reply);
        this.replies.delete(a.reply);
        if (a.error !== undefined) r?.reject(new Error(a.error));
        else r?.resolve(a.value ?? 0);
      }
      this.hold();
    });
    // A thread that dies takes its open files with it: they end (as after a crash, repaired on the next start) and
    // the next recording starts a new thread.
    const lost = (err: Error) => {
      if (this.worker !== w) return;
      this.worker = null;
      for (const rec of this.recordings.values()) rec.fail(err);
      for (const r of this.replies.values()) r.reject(err);
      this.replies.clear();
      this.backlog = 0;
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`the recorder thread exited (${code})`)));
    this.worker = w;
    return w;
  }
}

/** One drive's file, written by the thread; every call returns at once. */
class ThreadedRecording implements Recorder {
  private failed: Error | null = null;
  private closed = false;
  /** An H.264 frame was dropped: what follows cannot decode until the next key frame, so it waits for one. */
  private awaitingKey = false;

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
    // A copy of its own: a socket's buffer may be a view on a larger one, and the copy can be handed over, not cloned.
    const own = new Uint8Array(bytes);
    const taken = this.thread.addFrame({ op: 'add', id: this.id, kind: 'frame', meta, bytes: own, at });
    if (h264) this.awaitingKey = !taken;
  }

  controlReceived(c: RecordedControl, at = Date.now()): void {
    this.add('controlReceived', c, at);
  }

  controlForwarded(c: RecordedControl, at = Date.now()): void {
    this.add('controlForwarded', c, at);
  }

  controlAck(a: RecordedControlAck, at = Date.now()): void {
    this.add('controlAck', a, at);
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

  private add(kind: Exclude<AddCall['kind'], 'frame'>, body: unknown, at: number): void {
    if (this.closed || this.failed) return;
    this.thread.add({ op: 'add', id: this.id, kind, body, at });
  }
}
