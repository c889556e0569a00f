import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { ClusterService, HEARTBEAT_MS, INSTANCE_TTL_MS } from '../cluster/cluster.service.js';
import { RELAY_EVENTS as EV, RELAY_LIMITS, type FrameMeta, type RelayedFrameMeta, type WatcherStats } from '../protocol/index.js';
import { RelaySockets, WATCH_ROOM, type UserPrincipal } from '../sockets/relay-sockets.js';
import { PresenceService } from './presence.service.js';
import { RELAY_STATE, type RelayStateStore } from './relay-state.js';
import { VehicleStateService } from './vehicle-state.service.js';
import { VideoChannel, type Frame } from './video-channel.js';

/** Thrown for a refused video action; the gateway turns it into an `error` event. */
export class VideoError extends Error {
  constructor(readonly code: 'too-many-watchers', message: string) {
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

/**
 * Video fan-out. Each instance fans out to its own watchers with a per-watcher credit window (VideoChannel). The
 * vehicle's instance publishes each frame once to Redis; every other instance with watchers of that vehicle
 * subscribes once, so a frame crosses Redis once per instance, never once per watcher. A watcher that joins on
 * another instance gets the latest frame at once: its instance asks the vehicle's instance for it.
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
  private lastCounts = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];

  constructor(
    @Inject(RELAY_STATE) private readonly store: RelayStateStore,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
    private readonly presence: PresenceService,
    private readonly state: VehicleStateService,
  ) {}

  onModuleInit(): void {
    this.state.localFps = (id) => (this.presence.local(id) ? (this.channels.get(id)?.fps ?? 0) : undefined);
    this.presence.fps = (id) => this.channels.get(id)?.fps ?? 0;
    // A watcher that joined elsewhere asks the vehicle's instance for the latest frame.
    this.cluster.handle('latest-frame', (m) => {
      const { vehicleId, replyTo } = m as unknown as { vehicleId: string; replyTo: string };
      if (this.presence.local(vehicleId)) this.watchedElsewhere.add(vehicleId);
      const latest = this.presence.local(vehicleId) ? this.channels.get(vehicleId)?.latest : null;
      if (latest) this.cluster.send(replyTo, { t: 'frame', vehicleId, data: encodeFrame(latest).toString('base64') });
    });
    this.cluster.handle('frame', (m) => {
      const { vehicleId, data } = m as unknown as { vehicleId: string; data: string };
      const ch = this.channels.get(vehicleId);
      if (ch && !ch.latest) ch.pushFrame(decodeFrame(Buffer.from(data, 'base64')));
    });
    this.presence.onChange((vehicleId, online, local) => {
      // No stale frame for late watchers of a vehicle that went away; a vehicle that arrived here needs no Redis.
      if (!online) this.channels.get(vehicleId)?.clearLatest();
      if (online && local) void this.unsubscribe(vehicleId);
      if (online && !local && this.channels.get(vehicleId)?.viewers) void this.subscribe(vehicleId);
    });
    this.timers.push(setInterval(() => this.tick(), 1000));
    // Several instances: the counts are a heartbeat too (they expire with an instance that dies), and frames are
    // published only while another instance listens (it asks for the latest frame when it starts to).
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

  /** Adds a watcher here and sends it the latest frame at once (asking the vehicle's instance when needed). */
  async watch(socket: Socket, vehicleId: string, principal: UserPrincipal): Promise<void> {
    const ch = this.channel(vehicleId);
    if (ch.has(socket.id)) return;
    if (ch.viewers >= RELAY_LIMITS.maxWatchersPerVehicle) throw new VideoError('too-many-watchers', 'this vehicle has too many watchers');
    const mine = this.watching.get(socket) ?? new Set<string>();
    this.watching.set(socket, mine.add(vehicleId));
    socket.join(WATCH_ROOM(vehicleId));
    ch.watch(socket.id, principal.userId, principal.name);
    if (!this.presence.local(vehicleId)) {
      await this.subscribe(vehicleId);
      const home = await this.presence.homeOf(vehicleId);
      if (home && !ch.latest) this.cluster.send(home, { t: 'latest-frame', vehicleId, replyTo: this.cluster.instanceId });
    }
    await this.reportViewers(true);
    void this.state.publish(vehicleId);
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
    const frame = this.channel(vehicleId).push(meta, bytes);
    if (this.watchedElsewhere.has(vehicleId)) this.cluster.publishFrame(vehicleId, encodeFrame(frame));
  }

  ack(socket: Socket, vehicleId: string, seq: number): void {
    this.channels.get(vehicleId)?.ack(socket.id, seq);
  }

  forget(vehicleId: string): void {
    this.channels.delete(vehicleId);
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
      ch = new VideoChannel(vehicleId, (ids, frame) => this.sockets.ns!.local.to(ids).emit(EV.frame, frame.meta, frame.bytes));
      this.channels.set(vehicleId, ch);
    }
    return ch;
  }

  private async afterUnwatch(vehicleId: string): Promise<void> {
    if (!this.channels.get(vehicleId)?.viewers) await this.unsubscribe(vehicleId);
    await this.reportViewers(true);
    void this.state.publish(vehicleId);
  }

  private async subscribe(vehicleId: string): Promise<void> {
    if (!this.cluster.clustered || this.subscribed.has(vehicleId)) return;
    this.subscribed.add(vehicleId);
    await this.cluster.subscribeFrames(vehicleId, (data) => {
      try {
        this.channels.get(vehicleId)?.pushFrame(decodeFrame(data));
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
    for (const [id, ch] of this.channels) {
      if (ch.tick() && ch.viewers > 0 && this.presence.local(id)) void this.state.publish(id, { everyone: false });
    }
  }
}
