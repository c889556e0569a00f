import { RELAY_LIMITS, type FrameMeta, type RelayedFrameMeta, type WatcherStats } from '../protocol/index.js';

interface Watcher {
  socketId: string;
  userId: string;
  name: string;
  /** Sequence numbers sent and not yet acknowledged (at most the credit window). */
  inFlight: number[];
  /** A frame was skipped for lack of credit: the next ack sends the newest one. */
  owed: boolean;
  lastSentSeq: number;
  sent: number;
  skipped: number;
  acked: number;
}

export interface Frame {
  meta: RelayedFrameMeta;
  bytes: Buffer;
}

/** Sends one frame to a set of sockets (one encoding for all of them). */
export type FrameSink = (socketIds: string[], frame: Frame) => void;

/**
 * One vehicle's video fan-out with per-watcher credit: each watcher may have `creditWindow` frames unacknowledged.
 * Without credit a frame is skipped for that watcher only; an ack then delivers the newest frame (latest wins).
 * Only the latest frame is kept, so memory does not grow with slow watchers.
 */
export class VideoChannel {
  private readonly watchers = new Map<string, Watcher>();
  latest: Frame | null = null;
  framesIn = 0;
  framesOut = 0;
  framesSkipped = 0;
  bytesIn = 0;
  bytesOut = 0;
  private framesAtTick = 0;
  private tickAt = Date.now();
  fps = 0;

  constructor(readonly vehicleId: string, private readonly sink: FrameSink, private readonly window: number = RELAY_LIMITS.creditWindow) {}

  get viewers(): number {
    return this.watchers.size;
  }

  has(socketId: string): boolean {
    return this.watchers.has(socketId);
  }

  /** Adds a watcher and sends it the latest frame at once. */
  watch(socketId: string, userId: string, name: string): void {
    if (this.watchers.has(socketId)) return;
    const w: Watcher = { socketId, userId, name, inFlight: [], owed: false, lastSentSeq: -1, sent: 0, skipped: 0, acked: 0 };
    this.watchers.set(socketId, w);
    if (this.latest) this.deliver([w], this.latest);
  }

  unwatch(socketId: string): boolean {
    return this.watchers.delete(socketId);
  }

  /** A frame from the vehicle: sent to every watcher with credit, skipped for the others. */
  push(meta: FrameMeta, bytes: Buffer, now = Date.now()): Frame {
    const frame: Frame = { meta: { ...meta, vehicleId: this.vehicleId, relayedAt: now }, bytes };
    this.pushFrame(frame);
    return frame;
  }

  /** A frame already stamped by the vehicle's instance (it came from there through Redis). */
  pushFrame(frame: Frame): void {
    this.latest = frame;
    this.framesIn++;
    this.bytesIn += frame.bytes.length;
    const ready: Watcher[] = [];
    for (const w of this.watchers.values()) {
      if (w.inFlight.length < this.window) ready.push(w);
      else {
        w.skipped++;
        w.owed = true;
        this.framesSkipped++;
      }
    }
    if (ready.length) this.deliver(ready, frame);
  }

  /** A watcher acknowledged a frame: its credit returns, and an owed newest frame goes out. */
  ack(socketId: string, seq: number): boolean {
    const w = this.watchers.get(socketId);
    if (!w) return false;
    const i = w.inFlight.indexOf(seq);
    if (i === -1) return false;
    // Frames sent before the acknowledged one are settled too (an ack may have been lost or coalesced).
    w.acked += i + 1;
    w.inFlight.splice(0, i + 1);
    if (w.owed && this.latest && this.latest.meta.seq !== w.lastSentSeq) {
      w.owed = false;
      this.deliver([w], this.latest);
    }
    return true;
  }

  /** The vehicle went offline: no stale frame for late watchers. */
  clearLatest(): void {
    this.latest = null;
  }

  /** Called about once a second; returns true when the rounded fps changed. */
  tick(now = Date.now()): boolean {
    const elapsed = (now - this.tickAt) / 1000;
    if (elapsed <= 0) return false;
    const fps = Math.round(((this.framesIn - this.framesAtTick) / elapsed) * 10) / 10;
    this.framesAtTick = this.framesIn;
    this.tickAt = now;
    const changed = fps !== this.fps;
    this.fps = fps;
    return changed;
  }

  watcherStats(): WatcherStats[] {
    return [...this.watchers.values()].map((w) => ({ userId: w.userId, name: w.name, sent: w.sent, skipped: w.skipped, acked: w.acked, inFlight: w.inFlight.length }));
  }

  private deliver(targets: Watcher[], frame: Frame): void {
    for (const w of targets) {
      w.inFlight.push(frame.meta.seq);
      w.lastSentSeq = frame.meta.seq;
      w.owed = false;
      w.sent++;
    }
    this.framesOut += targets.length;
    this.bytesOut += targets.length * frame.bytes.length;
    this.sink(
      targets.map((w) => w.socketId),
      frame,
    );
  }
}
