import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createAdapter } from '@socket.io/redis-adapter';
import { EventEmitter } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import type { Server } from 'socket.io';
import { CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';

/** A message between instances. `t` names it; the rest is its payload. */
export interface BusMessage {
  t: string;
  [key: string]: unknown;
}

/** How often an instance says it is alive, and after how long without that it counts as dead. */
export const HEARTBEAT_MS = 1000;
export const INSTANCE_TTL_MS = 3000;

interface Events {
  /** Redis became reachable (true) or unreachable (false); never emitted without REDIS_URL. */
  availability: [boolean];
  /** Another instance stopped heartbeating; exactly one surviving instance gets this per dead instance. */
  'instance-dead': [string];
  /**
   * This instance was counted dead by the others (it stood still longer than INSTANCE_TTL_MS: a paused VM, a stopped
   * process) and they cleaned up after it: what it still holds is no longer true anywhere else.
   */
  'declared-dead': [];
}

/**
 * The Redis client of Socket.IO's adapter, which calls publish and (un)subscribe without awaiting them: while Redis
 * is away such a call fails, and that must not become an unhandled rejection (it would stop the process, on shutdown
 * too). What is lost then is sent again as state when Redis returns.
 */
export class AdapterRedis extends Redis {
  override publish(...args: unknown[]): Promise<number> {
    return (super.publish as (...a: unknown[]) => Promise<number>)(...args).catch(() => 0);
  }
  override subscribe(...args: unknown[]): Promise<unknown> {
    return (super.subscribe as (...a: unknown[]) => Promise<unknown>)(...args).catch(() => undefined);
  }
  override psubscribe(...args: unknown[]): Promise<unknown> {
    return (super.psubscribe as (...a: unknown[]) => Promise<unknown>)(...args).catch(() => undefined);
  }
  override unsubscribe(...args: unknown[]): Promise<unknown> {
    return (super.unsubscribe as (...a: unknown[]) => Promise<unknown>)(...args).catch(() => undefined);
  }
  override punsubscribe(...args: unknown[]): Promise<unknown> {
    return (super.punsubscribe as (...a: unknown[]) => Promise<unknown>)(...args).catch(() => undefined);
  }
}

/** How often the commands connection is probed; a probe unanswered within REDIS_TIMEOUT_MS counts as Redis down. */
const PROBE_MS = 500;

/**
 * What the instances share: this instance's id, the Redis connections, a message bus between instances (one channel
 * for all, one per instance), binary frame channels per vehicle, the instance registry, and Socket.IO's Redis
 * adapter. Without REDIS_URL everything is local to this process and no Redis is needed.
 */
@Injectable()
export class ClusterService extends EventEmitter<Events> implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('cluster');
  readonly instanceId: string;
  /** Commands; fails fast while Redis is unreachable (no offline queue): callers decide what that means. */
  readonly redis: Redis | null = null;
  private sub: Redis | null = null;
  private adapterClients: Redis[] = [];
  private up = false;
  private commandsReady = false;
  /** Set once this process joined as an instance: its bus subscriber must be ready too. */
  private subReady: boolean | null = null;
  private readonly handlers = new Map<string, ((msg: BusMessage) => void)[]>();
  private readonly frameHandlers = new Map<string, (data: Buffer) => void>();
  private timers: NodeJS.Timeout[] = [];
  private probing = false;
  /** This process has heartbeated once: from then on, finding itself absent from the registry means it was removed. */
  private registered = false;
  readonly prefix: string;

  constructor(@Inject(CONFIG) private readonly config: AppConfig) {
    super();
    this.instanceId = config.instanceId;
    this.prefix = config.redis?.prefix ?? 'vicer';
    if (config.redis) {
      // Every call has a deadline: a Redis that stands still (SIGSTOP, a paused VM, a full network buffer) fails calls
      // after it instead of hanging the API, and the probe counts it as down.
      this.redis = this.client('commands', { enableOfflineQueue: false, commandTimeout: config.redis.timeoutMs });
      this.redis.on('ready', () => ((this.commandsReady = true), this.updateAvailability()));
      this.redis.on('close', () => ((this.commandsReady = false), this.updateAvailability()));
      this.timers.push(setInterval(() => void this.probe(), PROBE_MS));
      this.timers.forEach((t) => t.unref());
    }
  }

  /** Several instances (REDIS_URL set). */
  get clustered(): boolean {
    return this.redis !== null;
  }

  /** Shared state can be read and written now: always in one process; with Redis, while it answers. */
  get available(): boolean {
    return !this.clustered || this.up;
  }

  /** For /api/health. */
  get redisStatus(): 'off' | 'up' | 'down' {
    return !this.clustered ? 'off' : this.up ? 'up' : 'down';
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  /** Waits a moment for Redis at start: a server that starts while it is down starts degraded, and recovers. */
  async onModuleInit(): Promise<void> {
    if (!this.redis) return;
    await new Promise<void>((resolve) => {
      if (this.up) return resolve();
      const t = setTimeout(resolve, 3000);
      this.once('availability', () => (clearTimeout(t), resolve()));
    });
  }

  async onApplicationShutdown(): Promise<void> {
    this.timers.forEach(clearInterval);
    if (this.redis && this.up) await this.redis.zrem(this.key('instances'), this.instanceId).catch(() => undefined);
    for (const c of [this.redis, this.sub, ...this.adapterClients]) c?.disconnect();
  }

  /**
   * Makes this process an instance of the cluster (the server does; the CLI does not): Socket.IO's Redis adapter for
   * rooms, broadcasts, fetchSockets and disconnectSockets across instances, the bus, and the heartbeat.
   */
  async join(io: Server): Promise<void> {
    if (!this.redis) return;
    const pub = this.client('adapter-pub', {}, AdapterRedis);
    const sub = this.client('adapter-sub', {}, AdapterRedis);
    this.adapterClients = [pub, sub];
    io.adapter(createAdapter(pub, sub, { key: this.key('sio'), requestsTimeout: 2000 }));
    // Shared state counts as available only when this instance also hears the bus (after a reconnect, once it has
    // subscribed again): a lock message must not be published into a channel nobody here listens to.
    this.subReady = false;
    // Its subscriptions are made again by this service on every 'ready', which then marks the bus as heard.
    this.sub = this.client('subscriber', { autoResubscribe: false, commandTimeout: this.config.redis!.timeoutMs });
    this.sub.on('messageBuffer', (channel: Buffer, data: Buffer) => this.onChannel(channel.toString(), data));
    this.sub.on('close', () => ((this.subReady = false), this.updateAvailability()));
    this.sub.on('ready', () => {
      void this.sub!.subscribe(this.key('bus'), this.key('bus', this.instanceId), ...[...this.frameHandlers.keys()].map((v) => this.key('frames', v)))
        .then(() => ((this.subReady = true), this.updateAvailability()))
        .catch((err) => this.logger.warn(`cannot subscribe: ${(err as Error).message}`));
    });
    this.timers.push(setInterval(() => void this.heartbeat(), HEARTBEAT_MS));
    this.timers.forEach((t) => t.unref());
    await this.heartbeat();
  }

  /** Handles bus messages of one type (from this instance too). */
  handle(type: string, handler: (msg: BusMessage) => void): void {
    this.handlers.set(type, [...(this.handlers.get(type) ?? []), handler]);
  }

  /** To one instance; handled synchronously when that is this one. */
  send(instanceId: string, msg: BusMessage): void {
    if (instanceId === this.instanceId || !this.redis) return this.dispatch(msg);
    void this.redis.publish(this.key('bus', instanceId), JSON.stringify(msg)).catch(() => undefined);
  }

  /** To every instance, this one included (handled here synchronously). */
  broadcast(msg: BusMessage): void {
    this.dispatch(msg);
    if (!this.redis) return;
    void this.redis.publish(this.key('bus'), JSON.stringify({ ...msg, from: this.instanceId })).catch(() => undefined);
  }

  /** Receives the frames published for a vehicle (once per instance, however many watchers it has). */
  async subscribeFrames(vehicleId: string, handler: (data: Buffer) => void): Promise<void> {
    this.frameHandlers.set(vehicleId, handler);
    await this.sub?.subscribe(this.key('frames', vehicleId)).catch(() => undefined);
  }

  async unsubscribeFrames(vehicleId: string): Promise<void> {
    this.frameHandlers.delete(vehicleId);
    await this.sub?.unsubscribe(this.key('frames', vehicleId)).catch(() => undefined);
  }

  /** How many instances listen to a vehicle's frames right now. */
  async frameListeners(vehicleId: string): Promise<number> {
    if (!this.redis || !this.up) return 0;
    const res = (await this.redis.pubsub('NUMSUB', this.key('frames', vehicleId)).catch(() => [])) as (string | number)[];
    return Number(res[1] ?? 0);
  }

  publishFrame(vehicleId: string, data: Buffer): void {
    if (!this.redis || !this.up) return;
    void this.redis.publish(this.key('frames', vehicleId), data).catch(() => undefined);
  }

  /** The instances that heartbeated lately (this one included). */
  async liveInstances(): Promise<string[]> {
    if (!this.redis) return [this.instanceId];
    return this.redis.zrangebyscore(this.key('instances'), Date.now() - INSTANCE_TTL_MS, '+inf');
  }

  private onChannel(channel: string, data: Buffer): void {
    const framesPrefix = this.key('frames') + ':';
    if (channel.startsWith(framesPrefix)) return this.frameHandlers.get(channel.slice(framesPrefix.length))?.(data);
    let msg: BusMessage & { from?: string };
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    // Broadcasts come back to their sender too: it already handled them.
    if (channel === this.key('bus') && msg.from === this.instanceId) return;
    this.dispatch(msg);
  }

  private dispatch(msg: BusMessage): void {
    for (const h of this.handlers.get(msg.t) ?? []) {
      try {
        h(msg);
      } catch (err) {
        this.logger.error({ err, type: msg.t }, 'bus handler failed');
      }
    }
  }

  /** Says this instance is alive, and hands each instance that stopped saying so to exactly one survivor. */
  private async heartbeat(): Promise<void> {
    if (!this.redis || !this.up) return;
    const now = Date.now();
    try {
      const added = await this.redis.zadd(this.key('instances'), now, this.instanceId);
      // Absent from the registry after having been in it: removed by a survivor (or Redis started empty). Only the
      // survivor's mark tells the first from the second.
      if (added === 1 && this.registered && (await this.redis.del(this.key('dead', this.instanceId))) === 1) {
        this.logger.warn(`instance ${this.instanceId} was counted dead by the others while it stood still; its connections start over`);
        this.emit('declared-dead');
      }
      this.registered = true;
      const dead = await this.redis.zrangebyscore(this.key('instances'), '-inf', now - INSTANCE_TTL_MS);
      for (const id of dead) {
        // ZREM is atomic: of all the survivors, one removes it and cleans up after it.
        if (id !== this.instanceId && (await this.redis.zrem(this.key('instances'), id)) === 1) {
          this.logger.warn(`instance ${id} stopped heartbeating; cleaning up after it`);
          await this.redis.set(this.key('dead', id), '1', 'PX', 24 * 3600_000);
          this.emit('instance-dead', id);
        }
      }
    } catch {
      // Redis went away between the check and the call: the next heartbeat tries again.
    }
  }

  /**
   * A PING past its deadline: Redis counts as down now (drivers revoked, vehicles stopped, the API answers without
   * it), and every connection is dropped so that what was queued on it is not sent late; they reconnect by themselves.
   */
  private async probe(): Promise<void> {
    if (!this.redis || !this.commandsReady || this.probing) return;
    this.probing = true;
    try {
      await this.redis.ping();
    } catch (err) {
      if (!this.commandsReady) return;
      this.logger.warn(`Redis did not answer within REDIS_TIMEOUT_MS (${this.config.redis!.timeoutMs} ms): counted as down (${(err as Error).message})`);
      this.commandsReady = false;
      this.updateAvailability();
      for (const c of [this.redis, this.sub, ...this.adapterClients]) c?.disconnect(true);
    } finally {
      this.probing = false;
    }
  }

  private updateAvailability(): void {
    this.setAvailable(this.commandsReady && this.subReady !== false);
  }

  private setAvailable(up: boolean): void {
    if (up === this.up) return;
    this.up = up;
    if (up) this.logger.log(`Redis is reachable; instance ${this.instanceId} shares state`);
    else this.logger.warn('Redis is unreachable: no new driver locks until it returns');
    this.emit('availability', up);
    if (up) void this.heartbeat();
  }

  private client(name: string, extra: RedisOptions, Client: typeof Redis = Redis): Redis {
    const c = new Client(this.config.redis!.url, {
      connectionName: `vicer:${this.instanceId}:${name}`,
      // RESP2 and a reconnect every 0.2–2 s, forever.
      retryStrategy: (times) => Math.min(200 * times, 2000),
      maxRetriesPerRequest: 1,
      lazyConnect: false,
      ...extra,
    });
    c.on('error', (err) => this.logger.debug(`redis (${name}): ${err.message}`));
    return c;
  }
}
