import { RecordingsService } from '../recordings/recordings.service.js';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { ClusterService, HEARTBEAT_MS, INSTANCE_TTL_MS } from '../cluster/cluster.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { RELAY_EVENTS as EV, RELAY_LIMITS, type FrameMeta, type RelayedFrameMeta, type VideoCaps, type VideoCodec, type VideoConfig, type WatcherStats } from '../protocol/index.js';
import { RelaySockets, WATCH_ROOM, type UserPrincipal } from '../sockets/relay-sockets.js';
import { PresenceService } from './presence.service.js';
import { RELAY_STATE, type RelayStateStore } from './relay-state.js';
import { VehicleStateService } from './vehicle-state.service.js';
import { VideoChannel, type Frame } from './video-channel.js';

/** Thrown for a refused video action; the gateway turns it into an `error` event. */
export class VideoError extends Error {
  constructor(readonly code: 'too-many-watchers' | 'codec-unavailable' | 'invalid-payload', message: string) {
    super(message);
  }
}

/** A frame on the wire between instances: 4 bytes of meta length, the meta as JSON, then the image. */
export function encodeFrame(frame: Frame): Buffer {
  const meta = Buffer.from(JSON.stringify(frame.meta));
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(meta.length, 0);
  return Buffer.concat([head, meta, frame.bytes]);
}

export function decodeFrame(data: Buffer): Frame {
  const n = data.readUInt32BE(0);
  return { meta: JSON.parse(data.subarray(4, 4 + n).toString()) as RelayedFrameMeta, bytes: data.subarray(4 + n) };
}

/** Which codec a watcher gets: H.264 when both sides have it, else JPEG when the vehicle can send it (maybe on request). */
export function chooseCodec(wants: VideoCodec[], caps: VideoCaps | null): VideoCodec | null {
  if (!caps) return wants[0];
  if (wants.includes('h264') && caps.codecs.includes('h264')) return 'h264';
  if (wants.includes('jpeg') && (caps.codecs.includes('jpeg') || caps.jpegOnRequest)) return 'jpeg';
  return null;
}

/**
 * Video fan-out. Each instance fans out to its own watchers with a per-watcher credit window (VideoChannel), H.264
 * and JPEG alike. The vehicle's instance publishes each frame once to Redis while another instance listens; each
 * such instance subscribes once, so a frame crosses Redis once per instance, never once per watcher. A watcher that
 * joins elsewhere starts at once from what the vehicle's instance keeps (the newest JPEG, or the current H.264 group).
 * The vehicle is asked for a key frame when an H.264 watcher has nothing to start from (at most once a second per
 * vehicle, however many ask), and for a JPEG stream while some watcher cannot decode H.264.
 */
@Injectable()
export class VideoService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('relay');
  private readonly channels = new Map<string, VideoChannel>();
  /** Vehicles whose frames this instance receives through Redis. */
  private readonly subscribed = new Set<string>();
  /** Vehicles of this instance that some other instance watches: only their frames are published. */
  private readonly watchedElsewhere = new Set<string>();
  private readonly watching = new WeakMap<Socket, Set<string>>();
  /** On the vehicle's instance: when a key frame was last asked for, and whether one is still awaited. */
  private readonly keyRequests = new Map<string, { at: number; pending: boolean }>();
  /** On the vehicle's instance: the instances with JPEG watchers of each vehicle. */
  private readonly jpegDemand = new Map<string, Set<string>>();
  /** This instance's JPEG demand as last announced, per vehicle. */
  private readonly jpegHere = new Map<string, boolean>();
  /**
   * Drives recorded here of vehicles connected elsewhere and watched by nobody here: until the file has a picture to
   * start from, live frames wait (`held`). `after: null`: waiting for the group asked of the vehicle's instance (or
   * a key frame); a number: that group is written, and live frames count from the one after it (the group and the
   * live frames come by different paths, in either order).
   */
  private readonly recordStart = new Map<string, { after: number | null; held: Frame[] }>();
  private lastCounts = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    @Inject(RELAY_STATE) private readonly store: RelayStateStore,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
    private readonly presence: PresenceService,
    private readonly state: VehicleStateService,
    private readonly metrics: MetricsService,
    private readonly recordings: RecordingsService,
  ) {}

  onModuleInit(): void {
    this.state.localFps = (id) => (this.presence.local(id) ? (this.channels.get(id)?.fps ?? 0) : undefined);
    this.presence.fps = (id) => this.channels.get(id)?.fps ?? 0;
    // A recording starts from pictures it can decode: the current H.264 group from its key frame, the newest JPEG.
    this.recordings.useStartFrames((id) => {
      const ch = this.channels.get(id);
      return ch ? [...ch.catchUp('h264'), ...ch.catchUp('jpeg')] : [];
    });
    // A watcher that joined elsewhere asks the vehicle's instance for what it can start from.
    this.cluster.handle('catch-up', (m) => {
      const { vehicleId, codec, replyTo } = m as unknown as { vehicleId: string; codec: VideoCodec; replyTo: string };
      if (!this.presence.local(vehicleId)) return;
      this.watchedElsewhere.add(vehicleId);
      const frames = this.channels.get(vehicleId)?.catchUp(codec) ?? [];
      if (frames.length) this.cluster.send(replyTo, { t: 'frames', vehicleId, frames: frames.map((f) => encodeFrame(f).toString('base64')) });
      else if (codec === 'h264') this.requestKeyHere(vehicleId);
    });
    this.cluster.handle('frames', (m) => {
      const vehicleId = m.vehicleId as string;
      const frames = (m.frames as string[]).map((f) => decodeFrame(Buffer.from(f, 'base64')));
      const ch = this.channels.get(vehicleId);
      if (ch) for (const f of frames) ch.pushFrame(f);
      const start = this.recordStart.get(vehicleId);
      if (start?.after === null && frames.length) {
        this.recordings.framesRelayed(vehicleId, frames);
        start.after = frames[frames.length - 1].meta.seq;
        for (const f of start.held.splice(0)) if (this.recordable(vehicleId, f)) this.recordings.frame(vehicleId, f.meta, f.bytes);
      }
    });
    this.recordings.useFrameFeed((vehicleId, on) => void (on ? this.feedRecording(vehicleId) : this.unfeedRecording(vehicleId)).catch((err) => this.logger.warn({ err }, 'cannot feed a recording')));
    this.cluster.handle('keyframe', (m) => this.requestKeyHere(m.vehicleId as string));
    this.cluster.handle('jpeg-demand', (m) => this.demandChanged(m.vehicleId as string, m.instanceId as string, m.on as boolean));
    this.cluster.on('instance-dead', (id) => {
      for (const [vehicleId, set] of this.jpegDemand) if (set.delete(id)) this.sendVideoConfig(vehicleId);
    });
    this.presence.onChange((vehicleId, online, local) => {
      // No stale frame for late watchers of a vehicle that went away; a vehicle that arrived here needs no Redis.
      if (!online) this.channels.get(vehicleId)?.clearLatest();
      if (online && local) {
        void this.unsubscribe(vehicleId);
        this.sendVideoConfig(vehicleId);
      }
      if (online && !local && this.channels.get(vehicleId)?.viewers) void this.subscribe(vehicleId);
      // A vehicle that (re)connected is told which streams are wanted, by every instance with JPEG watchers.
      if (online && this.jpegHere.get(vehicleId)) void this.announceDemand(vehicleId, true);
    });
    this.timers.push(setInterval(() => this.tick(), 1000));
    // Several instances: the counts are a heartbeat too (they expire with an instance that dies), and frames are
    // published only while another instance listens (it asks for a catch-up when it starts to).
    if (this.cluster.clustered) {
      this.timers.push(
        setInterval(() => void this.reportViewers(false), HEARTBEAT_MS),
        setInterval(() => void this.checkListeners(), HEARTBEAT_MS),
      );
    }
    this.timers.forEach((t) => t.unref());
  }

  onModuleDestroy(): void {
    this.timers.forEach(clearInterval);
  }

  /**
   * Adds a watcher here and starts it at once. `wants` are the codecs it can decode, preferred first; the answer is
   * the codec it gets.
   */
  async watch(socket: Socket, vehicleId: string, principal: UserPrincipal, wants: VideoCodec[] = ['jpeg']): Promise<VideoCodec> {
    const ch = this.channel(vehicleId);
    if (ch.has(socket.id)) return ch.codecOf(socket.id)!;
    if (ch.viewers >= RELAY_LIMITS.maxWatchersPerVehicle) throw new VideoError('too-many-watchers', 'this vehicle has too many watchers');
    const codec = chooseCodec(wants, await this.presence.caps(vehicleId));
    if (!codec) throw new VideoError('codec-unavailable', `this vehicle sends ${wants.includes('h264') ? 'JPEG only' : 'H.264 only'} and cannot send what this viewer decodes`);
    const mine = this.watching.get(socket) ?? new Set<string>();
    this.watching.set(socket, mine.add(vehicleId));
    socket.join(WATCH_ROOM(vehicleId));
    const local = this.presence.local(vehicleId);
    if (!local) await this.subscribe(vehicleId);
    ch.watch(socket.id, principal.userId, principal.name, codec);
    if (!local) {
      const home = await this.presence.homeOf(vehicleId);
      if (home) this.cluster.send(home, { t: 'catch-up', vehicleId, codec, replyTo: this.cluster.instanceId });
    }
    if (codec === 'jpeg') void this.updateJpegDemand(vehicleId);
    await this.reportViewers(true);
    // The socket closed while this waited on Redis: its close found nothing to undo then, so the watch undoes itself.
    if (socket.disconnected) {
      this.watching.get(socket)?.delete(vehicleId);
      if (ch.unwatch(socket.id)) await this.afterUnwatch(vehicleId);
      return codec;
    }
    void this.state.publish(vehicleId);
    return codec;
  }

  async unwatch(socket: Socket, vehicleId: string): Promise<void> {
    this.watching.get(socket)?.delete(vehicleId);
    socket.leave(WATCH_ROOM(vehicleId));
    if (!this.channels.get(vehicleId)?.unwatch(socket.id)) return;
    await this.afterUnwatch(vehicleId);
  }

  isWatching(socket: Socket, vehicleId: string): boolean {
    return this.channels.get(vehicleId)?.has(socket.id) ?? false;
  }

  socketClosed(socket: Socket): void {
    for (const vehicleId of this.watching.get(socket) ?? []) {
      if (this.channels.get(vehicleId)?.unwatch(socket.id)) void this.afterUnwatch(vehicleId);
    }
    this.watching.delete(socket);
  }

  /** A frame from a vehicle connected here: to the watchers here, and once to Redis for the other instances. */
  frameFromVehicle(vehicleId: string, meta: FrameMeta, bytes: Buffer): void {
    if (meta.codec === 'h264' && meta.key) {
      const r = this.keyRequests.get(vehicleId);
      if (r) r.pending = false;
    }
    const frame = this.channel(vehicleId).push(meta, bytes);
    this.metrics.framesIn.inc({ codec: meta.codec });
    this.recordings.frame(vehicleId, meta, bytes);
    if (this.watchedElsewhere.has(vehicleId)) this.cluster.publishFrame(vehicleId, encodeFrame(frame));
  }

  /** A vehicle connected here said what it can send: it is told at once which streams are wanted. */
  capsFromVehicle(vehicleId: string): void {
    this.sendVideoConfig(vehicleId);
  }

  /** A watcher's ack; one for a frame it was never sent is refused (and returns no credit). */
  ack(socket: Socket, vehicleId: string, seq: number): void {
    if (this.channels.get(vehicleId)?.ack(socket.id, seq) === 'unsent') {
      this.metrics.acksRefused.inc();
      throw new VideoError('invalid-payload', `seq: frame ${seq} was never sent to this watcher`);
    }
  }

  forget(vehicleId: string): void {
    this.channels.delete(vehicleId);
    this.keyRequests.delete(vehicleId);
    this.jpegDemand.delete(vehicleId);
    void this.unsubscribe(vehicleId);
  }

  /** This instance's counters for a vehicle. */
  stats(vehicleId: string): { fps: number; framesIn: number; framesOut: number; framesSkipped: number; bytesIn: number; bytesOut: number; watchers: WatcherStats[] } {
    const v = this.channels.get(vehicleId);
    return { fps: v?.fps ?? 0, framesIn: v?.framesIn ?? 0, framesOut: v?.framesOut ?? 0, framesSkipped: v?.framesSkipped ?? 0, bytesIn: v?.bytesIn ?? 0, bytesOut: v?.bytesOut ?? 0, watchers: v?.watcherStats() ?? [] };
  }

  private channel(vehicleId: string): VideoChannel {
    let ch = this.channels.get(vehicleId);
    if (!ch) {
      // Frames go to watchers on this instance only: never through the Redis adapter.
      ch = new VideoChannel(
        vehicleId,
        (ids, frame) => {
          this.metrics.framesOut.inc({ codec: frame.meta.codec }, ids.length);
          this.metrics.videoBytesOut.inc({ codec: frame.meta.codec }, ids.length * frame.bytes.length);
          const queued = this.sockets.fanOutFrame(ids, EV.frame, frame.meta, frame.bytes);
          if (queued) this.metrics.framesQueued.inc(queued);
        },
        () => this.requestKey(vehicleId),
        undefined,
        undefined,
        (socketId) => this.sockets.backlog(socketId),
      );
      ch.onSkip = (codec) => this.metrics.framesSkipped.inc({ codec });
      this.channels.set(vehicleId, ch);
    }
    return ch;
  }

  /** An H.264 watcher here has nothing to start from: its vehicle is asked for a key frame (by its instance). */
  private requestKey(vehicleId: string): void {
    if (this.presence.local(vehicleId)) return this.requestKeyHere(vehicleId);
    void this.presence.homeOf(vehicleId).then((home) => home && this.cluster.send(home, { t: 'keyframe', vehicleId }));
  }

  /** At most one request a second per vehicle, and none while one is awaited (coalesced across watchers). */
  private requestKeyHere(vehicleId: string): void {
    const v = this.presence.local(vehicleId);
    if (!v) return;
    const now = Date.now();
    const r = this.keyRequests.get(vehicleId);
    if (r && (r.pending || now - r.at < RELAY_LIMITS.keyframeRequestMs) && now - r.at < 2 * RELAY_LIMITS.keyframeRequestMs) return;
    this.keyRequests.set(vehicleId, { at: now, pending: true });
    v.socket.emit(EV.keyframeRequest, {});
  }

  /** This instance's JPEG watchers of a vehicle went from none to some or back: the vehicle's instance is told. */
  private async updateJpegDemand(vehicleId: string): Promise<void> {
    const on = (this.channels.get(vehicleId)?.count('jpeg') ?? 0) > 0;
    if ((this.jpegHere.get(vehicleId) ?? false) === on) return;
    this.jpegHere.set(vehicleId, on);
    await this.announceDemand(vehicleId, on);
  }

  private async announceDemand(vehicleId: string, on: boolean): Promise<void> {
    const home = await this.presence.homeOf(vehicleId);
    if (home) this.cluster.send(home, { t: 'jpeg-demand', vehicleId, instanceId: this.cluster.instanceId, on });
  }

  private demandChanged(vehicleId: string, instanceId: string, on: boolean): void {
    const set = this.jpegDemand.get(vehicleId) ?? new Set<string>();
    const before = set.size > 0;
    if (on) set.add(instanceId);
    else set.delete(instanceId);
    this.jpegDemand.set(vehicleId, set);
    if (before !== set.size > 0) this.sendVideoConfig(vehicleId);
  }

  /** Tells a vehicle connected here whether some watcher needs JPEG beside its H.264. */
  private sendVideoConfig(vehicleId: string): void {
    const v = this.presence.local(vehicleId);
    if (!v || !v.caps.codecs.includes('h264')) return;
    v.socket.emit(EV.videoConfig, { jpeg: (this.jpegDemand.get(vehicleId)?.size ?? 0) > 0 } satisfies VideoConfig);
  }

  /**
   * A drive of a vehicle connected elsewhere is recorded here: its frames come through Redis even with no watcher
   * here, and the file starts from the current group (asked of the vehicle's instance) rather than mid-group.
   */
  private async feedRecording(vehicleId: string): Promise<void> {
    // Watchers here: the frames flow already, and the file opened with their channel's group.
    if (!this.cluster.clustered || this.presence.local(vehicleId) || this.channels.get(vehicleId)?.viewers) return;
    this.recordStart.set(vehicleId, { after: null, held: [] });
    await this.subscribe(vehicleId);
    const [home, caps] = await Promise.all([this.presence.homeOf(vehicleId), this.presence.caps(vehicleId)]);
    if (home) this.cluster.send(home, { t: 'catch-up', vehicleId, codec: chooseCodec(['h264', 'jpeg'], caps) ?? 'jpeg', replyTo: this.cluster.instanceId });
  }

  private async unfeedRecording(vehicleId: string): Promise<void> {
    this.recordStart.delete(vehicleId);
    if (!this.channels.get(vehicleId)?.viewers) await this.unsubscribe(vehicleId);
  }

  /** Whether a frame that came through Redis goes into this instance's recording of its drive (see recordStart). */
  private recordable(vehicleId: string, frame: Frame): boolean {
    const start = this.recordStart.get(vehicleId);
    if (!start) return true;
    const startsHere = start.after === null ? frame.meta.codec === 'jpeg' || frame.meta.key : frame.meta.seq > start.after;
    if (startsHere) this.recordStart.delete(vehicleId);
    else if (start.after === null && start.held.length < RELAY_LIMITS.recordingHoldFrames) start.held.push(frame);
    return startsHere;
  }

  private async afterUnwatch(vehicleId: string): Promise<void> {
    if (!this.channels.get(vehicleId)?.viewers && !this.recordings.recording(vehicleId)) await this.unsubscribe(vehicleId);
    void this.updateJpegDemand(vehicleId);
    await this.reportViewers(true);
    void this.state.publish(vehicleId);
  }

  private async subscribe(vehicleId: string): Promise<void> {
    if (!this.cluster.clustered || this.subscribed.has(vehicleId)) return;
    this.subscribed.add(vehicleId);
    await this.cluster.subscribeFrames(vehicleId, (data) => {
      try {
        const frame = decodeFrame(data);
        this.channels.get(vehicleId)?.pushFrame(frame);
        if (this.recordable(vehicleId, frame)) this.recordings.frame(vehicleId, frame.meta, frame.bytes);
      } catch (err) {
        this.logger.warn({ err }, 'a malformed frame from Redis');
      }
    });
  }

  private async unsubscribe(vehicleId: string): Promise<void> {
    if (!this.subscribed.delete(vehicleId)) return;
    await this.cluster.unsubscribeFrames(vehicleId);
  }

  /** Writes this instance's watcher counts to the shared store (at once on a change, every second as a heartbeat). */
  private async reportViewers(changedOnly: boolean): Promise<void> {
    const counts = new Map<string, number>();
    for (const [id, ch] of this.channels) if (ch.viewers) counts.set(id, ch.viewers);
    const same = counts.size === this.lastCounts.size && [...counts].every(([k, v]) => this.lastCounts.get(k) === v);
    if (changedOnly && same) return;
    this.lastCounts = counts;
    await this.store.setViewers(this.cluster.instanceId, counts, INSTANCE_TTL_MS).catch(() => undefined);
  }

  private async checkListeners(): Promise<void> {
    for (const v of this.presence.localVehicles()) {
      if ((await this.cluster.frameListeners(v.id)) > 0) this.watchedElsewhere.add(v.id);
      else this.watchedElsewhere.delete(v.id);
    }
  }

  /** About once a second: fps per vehicle; watchers get an update when it changed. */
  private tick(): void {
    let viewers = 0;
    for (const ch of this.channels.values()) viewers += ch.viewers;
    this.metrics.viewers.set(viewers);
    for (const [id, ch] of this.channels) {
      if (ch.tick() && ch.viewers > 0 && this.presence.local(id)) void this.state.publish(id, { everyone: false });
    }
  }
}
