import { RELAY_LIMITS, type FrameMeta, type RelayedFrameMeta, type VideoCodec, type WatcherStats } from '../protocol/index.js';

interface Watcher {
  socketId: string;
  userId: string;
  name: string;
  codec: VideoCodec;
  /** Sequence numbers sent and not yet acknowledged (at most the credit window). */
  inFlight: number[];
  /** JPEG: a frame was skipped for lack of credit, so the next ack sends the newest one. */
  owed: boolean;
  /** H.264: this watcher lost a frame (or never had one): it gets nothing it cannot decode until it has a key frame. */
  needsKey: boolean;
  lastSentSeq: number;
  sent: number;
  skipped: number;
  acked: number;
}

export interface Frame {
  meta: RelayedFrameMeta;
  bytes: Buffer;
}

/** Sends frames to a set of sockets (one encoding for all of them). */
export type FrameSink = (socketIds: string[], frame: Frame) => void;

/** Bytes written to a watcher's connection that the network has not yet taken. */
export type BacklogProbe = (socketId: string) => number;

/** What an ack did: returned credit, settled nothing new, or named a frame this watcher was never sent. */
export type AckResult = 'credited' | 'stale' | 'unsent';

const isKey = (m: FrameMeta) => m.codec === 'h264' && m.key;

/**
 * One vehicle's video fan-out on this instance, for both codecs through the same flow control: each watcher may have
 * `creditWindow` frames unacknowledged, and a frame it has no credit for is skipped for that watcher only. Credit is
 * the client's word, so it is not the only bound: a watcher whose connection holds more than `backlogCap` bytes
 * not yet flushed skips too, and an ack for a frame it was never sent returns nothing.
 *
 * - JPEG: any frame decodes alone, so only the newest is kept; a watcher's ack then brings it the newest frame.
 * - H.264: a P-frame decodes only after everything since its key frame. A watcher that lost a frame (no credit),
 *   joined late or came back gets nothing until it can start from a key frame: the frames since the last key frame
 *   (one group of pictures, bounded in bytes) are kept, and it is sent them in one go — it starts at once instead of
 *   waiting up to a key-frame interval. With no group at hand, the vehicle is asked for a key frame
 *   (`requestKey`, rate limited and coalesced by the caller).
 */
export class VideoChannel {
  private readonly watchers = new Map<string, Watcher>();
  /** The newest JPEG frame. */
  latest: Frame | null = null;
  /** H.264: the frames since the last key frame (the key frame first); null when none is usable. */
  private gop: Frame[] | null = null;
  private gopBytes = 0;
  framesIn = 0;
  framesOut = 0;
  framesSkipped = 0;
  bytesIn = 0;
  bytesOut = 0;
  private framesAtTick = 0;
  private bytesAtTick = 0;
  private tickAt = Date.now();
  fps = 0;
  /** Bytes per second coming in, as of the last tick. */
  bitrate = 0;

  /** Told of every frame a watcher skips (the metrics count them). */
  onSkip?: (codec: VideoCodec) => void;

  constructor(
    readonly vehicleId: string,
    private readonly sink: FrameSink,
    private readonly requestKey: () => void = () => undefined,
    private readonly windows: Record<VideoCodec, number> = { jpeg: RELAY_LIMITS.creditWindow, h264: RELAY_LIMITS.creditWindowH264 },
    private readonly gopCap: number = RELAY_LIMITS.gopCacheBytes,
    private readonly backlog: BacklogProbe = () => 0,
    private readonly backlogCap: number = RELAY_LIMITS.watcherBacklogBytes,
  ) {}

  get viewers(): number {
    return this.watchers.size;
  }

  has(socketId: string): boolean {
    return this.watchers.has(socketId);
  }

  codecOf(socketId: string): VideoCodec | undefined {
    return this.watchers.get(socketId)?.codec;
  }

  /** How many watchers want each codec. */
  count(codec: VideoCodec): number {
    let n = 0;
    for (const w of this.watchers.values()) if (w.codec === codec) n++;
    return n;
  }

  /** The frames a watcher joining now would start from (the H.264 group, or the newest JPEG). */
  catchUp(codec: VideoCodec): Frame[] {
    return codec === 'h264' ? [...(this.gop ?? [])] : this.latest ? [this.latest] : [];
  }

  /** Adds a watcher and starts it at once: the newest JPEG, or the current H.264 group from its key frame. */
  watch(socketId: string, userId: string, name: string, codec: VideoCodec = 'jpeg'): void {
    if (this.watchers.has(socketId)) return;
    const w: Watcher = { socketId, userId, name, codec, inFlight: [], owed: false, needsKey: codec === 'h264', lastSentSeq: -1, sent: 0, skipped: 0, acked: 0 };
    this.watchers.set(socketId, w);
    if (codec === 'jpeg') {
      if (this.latest) this.deliver([w], this.latest);
    } else this.resync(w);
  }

  unwatch(socketId: string): boolean {
    return this.watchers.delete(socketId);
  }

  /** A frame from the vehicle: sent to every watcher with credit (that can decode it), skipped for the others. */
  push(meta: FrameMeta, bytes: Buffer, now = Date.now()): Frame {
    const frame: Frame = { meta: { ...meta, vehicleId: this.vehicleId, relayedAt: now } as RelayedFrameMeta, bytes };
    this.pushFrame(frame);
    return frame;
  }

  /** A frame already stamped by the vehicle's instance (it came from there through Redis). */
  pushFrame(frame: Frame): void {
    const { meta } = frame;
    this.framesIn++;
    this.bytesIn += frame.bytes.length;
    if (meta.codec === 'jpeg') this.latest = frame;
    else this.keep(frame);
    const ready: Watcher[] = [];
    for (const w of this.watchers.values()) {
      if (w.codec !== meta.codec) continue;
      if (w.codec === 'h264' && w.needsKey) {
        // Only a key frame (with everything after it) lets it decode again.
        if (isKey(meta) && w.inFlight.length < this.windows.h264 && !this.congested(w)) {
          w.needsKey = false;
          ready.push(w);
        } else this.skip(w);
        continue;
      }
      if (w.inFlight.length < this.windows[w.codec] && !this.congested(w)) ready.push(w);
      else {
        this.skip(w);
        if (w.codec === 'jpeg') w.owed = true;
        else w.needsKey = true;
      }
    }
    if (ready.length) this.deliver(ready, frame);
  }

  /** A watcher acknowledged a frame: its credit returns, and what it missed is made good. */
  ack(socketId: string, seq: number): AckResult {
    const w = this.watchers.get(socketId);
    if (!w) return 'stale';
    // A frame it was never sent: a lie (or a client bug), and no credit. Nothing sent yet in this stream (it just
    // began again) is a late ack of the last one instead.
    if (seq > w.lastSentSeq) return w.lastSentSeq < 0 ? 'stale' : 'unsent';
    // Acks are cumulative: every frame up to this one is settled (watchers ack every few frames, and the one acked
    // may have been sent outside the window, as part of a group). Sequence numbers rise within a vehicle's stream.
    let n = 0;
    while (n < w.inFlight.length && w.inFlight[n] <= seq) n++;
    if (n === 0) return 'stale';
    w.acked += n;
    w.inFlight.splice(0, n);
    if (w.codec === 'jpeg') {
      if (w.owed && this.latest && this.latest.meta.seq !== w.lastSentSeq && !this.congested(w)) {
        w.owed = false;
        this.deliver([w], this.latest);
      }
    } else if (w.needsKey && w.inFlight.length === 0 && !this.congested(w)) this.resync(w);
    return 'credited';
  }

  /** The vehicle went offline: no stale frame for late watchers, and the next stream starts from a key frame. */
  clearLatest(): void {
    this.latest = null;
    this.gop = null;
    this.gopBytes = 0;
    for (const w of this.watchers.values()) {
      // The next stream numbers its frames from the start again: nothing of the old one is awaited.
      w.inFlight = [];
      w.lastSentSeq = -1;
      if (w.codec === 'h264') w.needsKey = true;
    }
  }

  /** Called about once a second; returns true when the rounded fps changed. */
  tick(now = Date.now()): boolean {
    const elapsed = (now - this.tickAt) / 1000;
    if (elapsed <= 0) return false;
    const fps = Math.round(((this.framesIn - this.framesAtTick) / elapsed) * 10) / 10;
    this.bitrate = Math.round((this.bytesIn - this.bytesAtTick) / elapsed);
    this.framesAtTick = this.framesIn;
    this.bytesAtTick = this.bytesIn;
    this.tickAt = now;
    const changed = fps !== this.fps;
    this.fps = fps;
    return changed;
  }

  watcherStats(): WatcherStats[] {
    return [...this.watchers.values()].map((w) => ({ userId: w.userId, name: w.name, sent: w.sent, skipped: w.skipped, acked: w.acked, inFlight: w.inFlight.length }));
  }

  /** H.264: the group of pictures since the last key frame, within its byte budget. */
  private keep(frame: Frame): void {
    if (isKey(frame.meta)) {
      this.gop = [frame];
      this.gopBytes = frame.bytes.length;
      return;
    }
    if (!this.gop) return;
    this.gopBytes += frame.bytes.length;
    if (this.gopBytes > this.gopCap) {
      // Too long a group to replay: late watchers wait for the next key frame instead (and one is asked for).
      this.gop = null;
      this.gopBytes = 0;
      return;
    }
    this.gop.push(frame);
  }

  /** Brings an H.264 watcher back in step: the whole current group at once, from its key frame, or a key frame soon. */
  private resync(w: Watcher): void {
    if (!this.gop?.length) {
      w.needsKey = true;
      this.requestKey();
      return;
    }
    w.needsKey = false;
    // Sent together; only the last one takes credit, so the live frames after it flow at once.
    const group = this.gop;
    for (const f of group.slice(0, -1)) this.deliver([w], f, false);
    this.deliver([w], group[group.length - 1]);
  }

  /** Its connection holds more unflushed bytes than its bound: it reads slower than it is sent (or not at all). */
  private congested(w: Watcher): boolean {
    return this.backlog(w.socketId) > this.backlogCap;
  }

  private skip(w: Watcher): void {
    w.skipped++;
    this.framesSkipped++;
    this.onSkip?.(w.codec);
  }

  private deliver(targets: Watcher[], frame: Frame, takesCredit = true): void {
    for (const w of targets) {
      if (takesCredit) w.inFlight.push(frame.meta.seq);
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
