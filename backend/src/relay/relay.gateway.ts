import { Inject, Logger, type BeforeApplicationShutdown, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { WebSocketGateway, WebSocketServer, type OnGatewayConnection, type OnGatewayDisconnect, type OnGatewayInit } from '@nestjs/websockets';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Namespace, Socket } from 'socket.io';
import { AuthEvents } from '../auth/auth-events.js';
import { AuthService } from '../auth/auth.service.js';
import { CallError, CallsService, USER_ROOM } from '../calls/calls.service.js';
import { ConnectionsService, USERS_ROOM } from '../connections/connections.service.js';
import type { Principal, SocketPrincipal, VehiclePrincipal } from '../auth/decorators.js';
import {
  CALL_EVENTS,
  can,
  parseInbound,
  RELAY_EVENTS as EV,
  RELAY_LIMITS,
  RELAY_NAMESPACE,
  type ControlMessage,
  type DriverView,
  type DriveRevoked,
  type FrameMeta,
  type RelayErrorCode,
  type RelayErrorEvent,
  type VehicleState,
  type VehicleStats,
} from '../protocol/index.js';
import { requestContext } from '../logging/logger.js';
import { VehiclesService } from '../vehicles/vehicles.service.js';
import { RELAY_STATE, type DriverLock, type RelayStateStore } from './relay-state.js';
import { VideoChannel } from './video-channel.js';

type Ack = (reply: unknown) => void;

interface UserData {
  principal: { kind: 'user' } & Principal;
  watching: Set<string>;
  bucket: { tokens: number; at: number; notified: boolean };
  expiry?: NodeJS.Timeout;
}

interface VehicleData {
  principal: VehiclePrincipal;
}

/** Everything this instance knows about one vehicle while anyone uses it. */
interface VehicleRuntime {
  id: string;
  name: string;
  video: VideoChannel;
  socket: Socket | null;
  lease: NodeJS.Timeout | null;
  lastSeq: number;
  /** Control seq → when it was forwarded, for the round trip measured at the vehicle's ack. */
  pending: Map<number, number>;
  controlsIn: number;
  controlsForwarded: number;
  controlsDropped: number;
  /** The driver was told that the latch refuses its controls. */
  estopNotified: boolean;
}

class RelayError extends Error {
  constructor(readonly code: RelayErrorCode, message: string) {
    super(message);
  }
}

type Handler = (socket: Socket, data: any, binary?: Uint8Array) => Promise<unknown> | unknown;

const WATCH_ROOM = (vehicleId: string) => `v:${vehicleId}`;
const MAX_PENDING_ACKS = 256;
/** Connected vehicles' tokens are checked this often, so a rotation or deletion made elsewhere (the CLI, another instance) closes them. */
const TOKEN_RECHECK_MS = 5000;
/** How long sockets get to close by themselves at shutdown before their connections are cut. */
const SHUTDOWN_GRACE_MS = 500;

@WebSocketGateway({ namespace: RELAY_NAMESPACE, maxHttpBufferSize: RELAY_LIMITS.maxMessageBytes, perMessageDeflate: false, serveClient: false })
export class RelayGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  @WebSocketServer() ns: Namespace;

  private readonly logger = new Logger('relay');
  private readonly runtimes = new Map<string, VehicleRuntime>();
  private readonly upgraded = new Set<Duplex>();
  private ticker?: NodeJS.Timeout;
  private tokenCheck?: NodeJS.Timeout;
  /** Extra admission rules for new sockets (maintenance mode plugs in here); a string refuses with that message. */
  private admission: (p: SocketPrincipal) => Promise<string | null> = async () => null;

  /** What each validated event does; which events exist, who may send them and their schemas are in INBOUND_EVENTS. */
  private readonly handlers: Record<string, Handler> = {
    [EV.watch]: (s, d) => this.watch(s, d.vehicleId),
    [EV.unwatch]: (s, d) => this.unwatch(s, d.vehicleId),
    [EV.driveAcquire]: (s, d) => this.acquire(s, d.vehicleId, d.force === true),
    [EV.driveRelease]: (s, d) => this.release(s, d.vehicleId),
    [EV.control]: (s, d) => this.control(s, d),
    [EV.estop]: (s, d) => this.estop(s, d.vehicleId),
    [EV.estopClear]: (s, d) => this.estopClear(s, d.vehicleId),
    [EV.frameAck]: (s, d) => this.frameAck(s, d.vehicleId, d.seq),
    [EV.reauth]: (s, d) => this.reauth(s, d.token),
    [EV.frame]: (s, d, bytes) => this.frame(s, d, bytes!),
    [EV.telemetry]: (s, d) => this.telemetry(s, d),
    [EV.controlAck]: (s, d) => this.vehicleControlAck(s, d.seq),
    [CALL_EVENTS.invite]: (s, d) => this.calls.invite(s, this.userOf(s), d.to),
    [CALL_EVENTS.accept]: (s, d) => this.calls.accept(s, this.userOf(s), d.callId),
    [CALL_EVENTS.decline]: (s, d) => this.calls.decline(this.userOf(s), d.callId),
    [CALL_EVENTS.signal]: (s, d) => this.calls.signal(s, this.userOf(s), d),
    [CALL_EVENTS.hangup]: (s, d) => this.calls.hangup(this.userOf(s), d.callId),
  };
  private eventSeq = 0;

  constructor(
    private readonly auth: AuthService,
    private readonly authEvents: AuthEvents,
    private readonly vehicles: VehiclesService,
    private readonly connections: ConnectionsService,
    private readonly calls: CallsService,
    @Inject(RELAY_STATE) private readonly state: RelayStateStore,
  ) {}

  onModuleInit(): void {
    this.authEvents.on('revoked', ({ userId, sessionIds, reason }) => {
      for (const socket of this.ns?.sockets.values() ?? []) {
        const p = socket.data.principal as SocketPrincipal | undefined;
        if (p?.kind === 'user' && p.userId === userId && (!sessionIds || sessionIds.includes(p.sessionId))) this.kick(socket, 'token-expired', `signed out (${reason})`);
      }
    });
    this.ticker = setInterval(() => this.tick(), 1000);
    this.ticker.unref();
    this.tokenCheck = setInterval(() => void this.recheckVehicleTokens().catch((err) => this.logger.warn({ err }, 'cannot recheck vehicle tokens')), TOKEN_RECHECK_MS);
    this.tokenCheck.unref();
  }

  /**
   * Closes every socket at once, before the HTTP server stops. A client that does not answer the WebSocket close
   * handshake (python-socketio) would otherwise hold the shutdown for ws's 30 s close timeout, and one that
   * reconnects at once would open a new long poll: new requests are refused, and the raw connections that are
   * still open after a short grace are destroyed.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (!this.ns) return;
    const engine = this.ns.server.engine as unknown as { opts: { allowRequest?: (req: unknown, cb: (err: string | null, ok: boolean) => void) => void }; close(): void };
    engine.opts.allowRequest = (_req, cb) => cb('server shutting down', false);
    for (const socket of this.ns.sockets.values()) this.connections.markClosing(socket, 'server-shutdown');
    this.ns.server.disconnectSockets(true);
    engine.close();
    const deadline = Date.now() + SHUTDOWN_GRACE_MS;
    while (this.upgraded.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const raw of this.upgraded) raw.destroy();
  }

  onModuleDestroy(): void {
    clearInterval(this.ticker);
    clearInterval(this.tokenCheck);
    for (const rt of this.runtimes.values()) if (rt.lease) clearTimeout(rt.lease);
  }

  setAdmission(rule: (p: SocketPrincipal) => Promise<string | null>): void {
    this.admission = rule;
  }

  afterInit(ns: Namespace): void {
    // Upgraded (WebSocket) connections are not the HTTP server's to close: they are tracked for shutdown.
    ns.server.httpServer?.on('upgrade', (_req: unknown, raw: Duplex) => {
      this.upgraded.add(raw);
      raw.once('close', () => this.upgraded.delete(raw));
    });
    this.connections.attach(ns);
    this.calls.attach(ns);
    // Authentication happens in the handshake, by the same service that checks HTTP bearers.
    ns.use((socket, next) => {
      this.auth
        .verifyHandshake(socket.handshake.auth)
        .then(async (principal) => {
          const refused = await this.admission(principal);
          if (refused) return next(Object.assign(new Error(refused), { data: { code: 'maintenance' } }));
          // A vehicle's runtime is ready before its first frame can arrive.
          if (principal.kind === 'vehicle') await this.runtime(principal.vehicleId);
          socket.data.principal = principal;
          next();
        })
        .catch(() => next(new Error('unauthorized')));
    });
  }

  handleConnection(socket: Socket): void {
    const principal = socket.data.principal as SocketPrincipal;
    if (!principal) return void socket.disconnect(true);
    socket.onAny((event: string, ...args: unknown[]) => this.dispatch(socket, event, args));
    if (principal.kind === 'user') {
      socket.join([USERS_ROOM, USER_ROOM(principal.userId)]);
      const data: UserData = { principal, watching: new Set(), bucket: { tokens: RELAY_LIMITS.controlBurst, at: performance.now(), notified: false } };
      socket.data = data;
      this.scheduleExpiry(socket);
    } else {
      socket.data = { principal } satisfies VehicleData;
      void this.vehicleOnline(socket, principal);
    }
    this.connections.opened(socket, principal);
  }

  handleDisconnect(socket: Socket): void {
    const p = socket.data.principal as SocketPrincipal | undefined;
    if (!p) return;
    if (p.kind === 'user') {
      const data = socket.data as UserData;
      clearTimeout(data.expiry);
      this.calls.socketClosed(socket, p.userId);
      for (const vehicleId of data.watching) {
        this.runtimes.get(vehicleId)?.video.unwatch(socket.id);
        void this.publishState(vehicleId, true);
      }
      for (const rt of this.runtimes.values()) void this.endDriving(rt, socket.id, 'driver-disconnected');
    } else {
      const rt = this.runtimes.get(p.vehicleId);
      if (rt?.socket?.id === socket.id) {
        rt.socket = null;
        rt.video.clearLatest();
        void this.state.setOnline(p.vehicleId, false).then(() => this.publishState(p.vehicleId, true));
        this.vehicles.touch(p.vehicleId).catch(() => undefined);
      }
    }
  }

  // ---- public API for the REST side ---------------------------------------------------------------------------

  async stateOf(vehicleId: string): Promise<VehicleState> {
    const rt = this.runtimes.get(vehicleId);
    const [online, driver, estopped] = await Promise.all([this.state.isOnline(vehicleId), this.state.driverOf(vehicleId), this.state.isEstopped(vehicleId)]);
    return { vehicleId, online, driver: driver ? view(driver) : null, estopped, viewers: rt?.video.viewers ?? 0, fps: rt?.video.fps ?? 0 };
  }

  async statsOf(vehicleId: string): Promise<VehicleStats> {
    const rt = this.runtimes.get(vehicleId);
    const v = rt?.video;
    return {
      vehicleId,
      online: await this.state.isOnline(vehicleId),
      fps: v?.fps ?? 0,
      framesIn: v?.framesIn ?? 0,
      framesOut: v?.framesOut ?? 0,
      framesSkipped: v?.framesSkipped ?? 0,
      bytesIn: v?.bytesIn ?? 0,
      bytesOut: v?.bytesOut ?? 0,
      controlsIn: rt?.controlsIn ?? 0,
      controlsForwarded: rt?.controlsForwarded ?? 0,
      controlsDropped: rt?.controlsDropped ?? 0,
      watchers: v?.watcherStats() ?? [],
    };
  }

  /** A rotated token: the sockets that authenticated with the old one are closed. */
  disconnectVehicleToken(oldHash: string): void {
    for (const socket of this.ns.sockets.values()) {
      const p = socket.data.principal as SocketPrincipal | undefined;
      if (p?.kind === 'vehicle' && p.tokenHash === oldHash) {
        this.connections.markClosing(socket, 'token-rotated');
        socket.disconnect(true);
      }
    }
  }

  /** Closes vehicle sockets whose token was rotated or whose vehicle was deleted since they connected. */
  async recheckVehicleTokens(): Promise<void> {
    const sockets = [...(this.ns?.sockets.values() ?? [])].filter((s) => (s.data.principal as SocketPrincipal | undefined)?.kind === 'vehicle');
    if (!sockets.length) return;
    const current = await this.vehicles.tokenHashes([...new Set(sockets.map((s) => (s.data.principal as VehiclePrincipal).vehicleId))]);
    for (const socket of sockets) {
      const p = socket.data.principal as VehiclePrincipal;
      const hash = current.get(p.vehicleId);
      if (hash === p.tokenHash) continue;
      this.connections.markClosing(socket, hash ? 'token-rotated' : 'vehicle-deleted');
      socket.disconnect(true);
    }
  }

  async vehicleDeleted(vehicleId: string): Promise<void> {
    const rt = this.runtimes.get(vehicleId);
    if (rt?.socket) {
      this.connections.markClosing(rt.socket, 'vehicle-deleted');
      rt.socket.disconnect(true);
    }
    if (rt?.lease) clearTimeout(rt.lease);
    this.runtimes.delete(vehicleId);
    await this.state.forget(vehicleId);
    this.ns.to(USERS_ROOM).emit(EV.vehicleState, { vehicleId, online: false, driver: null, estopped: false, viewers: 0, fps: 0 } satisfies VehicleState);
  }

  // ---- dispatch -------------------------------------------------------------------------------------------------

  /**
   * The one entry of every client event. Nothing a client sends can throw past it: the payload is bounded, then
   * validated, then handled, and any failure — a refusal, a bug, a rejected promise — answers the sender with an
   * `error` event (and the ack) while the connection and the process stay up.
   */
  private dispatch(socket: Socket, name: unknown, args: unknown[]): void {
    let ack: Ack | undefined;
    let event = typeof name === 'string' ? name.slice(0, 64) : String(typeof name);
    try {
      ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
      const p = socket.data.principal as SocketPrincipal;
      const inbound = parseInbound(name, args, p.kind);
      event = inbound.event;
      if (!inbound.ok) return this.fail(socket, event, ack, new RelayError(inbound.code, inbound.message));
      const handle = this.handlers[event];
      const result = requestContext.run({ reqId: `${socket.id}:${event}:${++this.eventSeq}` }, () => handle(socket, inbound.data, inbound.binary));
      if (result instanceof Promise) result.then((r) => this.reply(ack, r ?? { ok: true }), (err) => this.fail(socket, event, ack, err));
      else this.reply(ack, result ?? { ok: true });
    } catch (err) {
      this.fail(socket, event, ack, err);
    }
  }

  private reply(ack: Ack | undefined, body: unknown): void {
    try {
      ack?.(body);
    } catch (err) {
      this.logger.error({ err }, 'cannot send an ack');
    }
  }

  private fail(socket: Socket, event: string, ack: Ack | undefined, err: unknown): void {
    const known = err instanceof RelayError || err instanceof CallError;
    if (!known) this.logger.error({ err, event, socketId: socket.id }, 'relay handler failed');
    const body: RelayErrorEvent = known ? { code: (err as RelayError).code, message: err.message, event } : { code: 'internal', message: 'internal error', event };
    try {
      socket.emit(EV.error, body);
    } catch (e) {
      this.logger.error({ err: e }, 'cannot send an error event');
    }
    this.reply(ack, { ok: false, error: body });
  }

  // ---- user events ----------------------------------------------------------------------------------------------

  private async watch(socket: Socket, vehicleId: string) {
    const rt = await this.runtime(vehicleId);
    const data = socket.data as UserData;
    if (!rt.video.has(socket.id)) {
      if (rt.video.viewers >= RELAY_LIMITS.maxWatchersPerVehicle) throw new RelayError('too-many-watchers', 'this vehicle has too many watchers');
      data.watching.add(vehicleId);
      socket.join(WATCH_ROOM(vehicleId));
      rt.video.watch(socket.id, data.principal.userId, data.principal.name);
      void this.publishState(vehicleId, true);
    }
    return { ok: true, state: await this.stateOf(vehicleId) };
  }

  private async unwatch(socket: Socket, vehicleId: string) {
    const rt = await this.runtime(vehicleId);
    (socket.data as UserData).watching.delete(vehicleId);
    socket.leave(WATCH_ROOM(vehicleId));
    if (rt.video.unwatch(socket.id)) void this.publishState(vehicleId, true);
    return { ok: true, state: await this.stateOf(vehicleId) };
  }

  private async acquire(socket: Socket, vehicleId: string, force: boolean) {
    const rt = await this.runtime(vehicleId);
    const { principal } = socket.data as UserData;
    if (force && !can(principal.role, 'drive:takeover')) throw new RelayError('forbidden', 'only an admin can take over');
    const lock: DriverLock = { userId: principal.userId, name: principal.name, socketId: socket.id };
    const result = await this.state.acquireDriver(vehicleId, lock, force);
    if (!result.ok) {
      const holder = result.holder ? view(result.holder) : null;
      socket.emit(EV.error, { code: 'driver-busy', message: `${holder?.name ?? 'someone'} is driving`, event: EV.driveAcquire } satisfies RelayErrorEvent);
      return { ok: false, driver: holder };
    }
    if (result.replaced) {
      this.ns.to(result.replaced.socketId).emit(EV.driveRevoked, { vehicleId, reason: 'takeover', by: view(lock) } satisfies DriveRevoked);
      rt.socket?.emit(EV.stop, { reason: 'takeover' });
    }
    if (result.replaced || !rt.lease) rt.lastSeq = -1;
    rt.estopNotified = false;
    this.armLease(rt);
    void this.publishState(vehicleId, true);
    return { ok: true, driver: view(lock) };
  }

  private async release(socket: Socket, vehicleId: string) {
    const rt = await this.runtime(vehicleId);
    const freed = await this.endDriving(rt, socket.id, 'released');
    if (!freed) throw new RelayError('not-driver', 'you are not driving this vehicle');
    return { ok: true, driver: null };
  }

  private async control(socket: Socket, msg: ControlMessage): Promise<void> {
    const rt = this.runtimes.get(msg.vehicleId);
    if (!rt) throw new RelayError('not-driver', 'you are not driving this vehicle');
    rt.controlsIn++;
    const data = socket.data as UserData;
    if (!this.takeToken(data.bucket)) {
      rt.controlsDropped++;
      if (!data.bucket.notified) {
        data.bucket.notified = true;
        throw new RelayError('rate-limited', `at most ${RELAY_LIMITS.controlMaxHz} control messages per second; the excess is dropped`);
      }
      return;
    }
    const [lock, estopped] = await Promise.all([this.state.driverOf(msg.vehicleId), this.state.isEstopped(msg.vehicleId)]);
    const refuse = (code: RelayErrorCode, message: string) => {
      rt.controlsDropped++;
      return new RelayError(code, message);
    };
    if (lock?.socketId !== socket.id) throw refuse('not-driver', 'you are not driving this vehicle');
    if (estopped) {
      // The driver keeps the seat while the latch holds (its controls renew the lease, none is forwarded), so it
      // can clear the e-stop and drive on. Told once per latch, not 30 times a second.
      rt.lease?.refresh();
      rt.controlsDropped++;
      if (rt.estopNotified) return;
      rt.estopNotified = true;
      throw new RelayError('estopped', 'e-stop is latched; controls are not forwarded until it is cleared');
    }
    if (msg.seq <= rt.lastSeq) throw refuse('stale-seq', `seq ${msg.seq} is not after ${rt.lastSeq}`);
    rt.lastSeq = msg.seq;
    rt.lease?.refresh();
    if (!rt.socket) throw refuse('vehicle-offline', 'the vehicle is offline');
    rt.socket.emit(EV.control, { seq: msg.seq, throttle: msg.throttle, steer: msg.steer });
    rt.controlsForwarded++;
    rt.pending.set(msg.seq, performance.now());
    if (rt.pending.size > MAX_PENDING_ACKS) rt.pending.delete(rt.pending.keys().next().value!);
  }

  private async estop(socket: Socket, vehicleId: string) {
    const rt = await this.runtime(vehicleId);
    const lock = await this.state.driverOf(vehicleId);
    if (!rt.video.has(socket.id) && lock?.socketId !== socket.id) throw new RelayError('not-watching', 'watch the vehicle to e-stop it');
    await this.state.setEstop(vehicleId, true);
    rt.socket?.emit(EV.estop, { by: (socket.data as UserData).principal.name });
    void this.publishState(vehicleId, true);
    return { ok: true, state: await this.stateOf(vehicleId) };
  }

  private async estopClear(socket: Socket, vehicleId: string) {
    const rt = await this.runtime(vehicleId);
    const { principal } = socket.data as UserData;
    const lock = await this.state.driverOf(vehicleId);
    if (lock?.socketId !== socket.id && !can(principal.role, 'estop:clear-any')) throw new RelayError('forbidden', 'only the driver or an admin can clear the e-stop');
    await this.state.setEstop(vehicleId, false);
    rt.estopNotified = false;
    rt.socket?.emit(EV.estopClear, {});
    void this.publishState(vehicleId, true);
    return { ok: true, state: await this.stateOf(vehicleId) };
  }

  private frameAck(socket: Socket, vehicleId: string, seq: number): void {
    this.runtimes.get(vehicleId)?.video.ack(socket.id, seq);
  }

  private async reauth(socket: Socket, token: string) {
    const data = socket.data as UserData;
    let next: Principal;
    try {
      next = await this.auth.verifyAccessToken(token);
    } catch {
      throw new RelayError('token-expired', 'that token is not valid');
    }
    if (next.userId !== data.principal.userId) throw new RelayError('forbidden', 'a socket cannot change its user');
    data.principal = { kind: 'user', ...next };
    this.scheduleExpiry(socket);
    return { ok: true };
  }

  // ---- vehicle events -------------------------------------------------------------------------------------------

  private frame(socket: Socket, meta: FrameMeta, data: Uint8Array): void {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) {
      throw new RelayError('invalid-payload', 'the second argument must be the JPEG bytes (binary)');
    }
    this.runtimes.get((socket.data as VehicleData).principal.vehicleId)?.video.push(meta, bytes);
  }

  private telemetry(socket: Socket, telemetry: Record<string, unknown>): void {
    const { vehicleId } = (socket.data as VehicleData).principal;
    this.ns.to(WATCH_ROOM(vehicleId)).emit(EV.telemetry, { ...telemetry, vehicleId, receivedAt: Date.now() });
  }

  private async vehicleControlAck(socket: Socket, seq: number): Promise<void> {
    const rt = this.runtimes.get((socket.data as VehicleData).principal.vehicleId);
    const sentAt = rt?.pending.get(seq);
    if (!rt || sentAt === undefined) return;
    rt.pending.delete(seq);
    const lock = await this.state.driverOf(rt.id);
    if (lock) this.ns.to(lock.socketId).emit(EV.controlAck, { seq, rttMs: Math.round((performance.now() - sentAt) * 100) / 100 });
  }

  // ---- internals ------------------------------------------------------------------------------------------------

  private async vehicleOnline(socket: Socket, principal: VehiclePrincipal): Promise<void> {
    const rt = this.runtimes.get(principal.vehicleId);
    if (!rt) return void socket.disconnect(true); // deleted during the handshake
    if (rt.socket && rt.socket.id !== socket.id) {
      this.connections.markClosing(rt.socket, 'replaced');
      rt.socket.disconnect(true); // the newest connection of a vehicle wins
    }
    rt.socket = socket;
    await this.state.setOnline(rt.id, true);
    // A latched e-stop holds across the vehicle's reconnects too.
    if (await this.state.isEstopped(rt.id)) socket.emit(EV.estop, { by: 'latched' });
    this.vehicles.touch(rt.id).catch(() => undefined);
    void this.publishState(rt.id, true);
  }

  private async runtime(vehicleId: string): Promise<VehicleRuntime> {
    const known = this.runtimes.get(vehicleId);
    if (known) return known;
    const vehicle = await this.vehicles.get(vehicleId).catch(() => null);
    if (!vehicle) throw new RelayError('unknown-vehicle', `no vehicle ${vehicleId}`);
    const raced = this.runtimes.get(vehicleId);
    if (raced) return raced;
    const rt: VehicleRuntime = {
      id: vehicle.id,
      name: vehicle.name,
      video: new VideoChannel(vehicle.id, (ids, frame) => this.ns.to(ids).emit(EV.frame, frame.meta, frame.bytes)),
      socket: null,
      lease: null,
      lastSeq: -1,
      pending: new Map(),
      controlsIn: 0,
      controlsForwarded: 0,
      controlsDropped: 0,
      estopNotified: false,
    };
    this.runtimes.set(vehicleId, rt);
    return rt;
  }

  private armLease(rt: VehicleRuntime): void {
    if (rt.lease) clearTimeout(rt.lease);
    rt.lease = setTimeout(() => {
      void this.state.driverOf(rt.id).then((lock) => lock && this.endDriving(rt, lock.socketId, 'lease-expired'));
    }, RELAY_LIMITS.leaseMs);
  }

  /** Frees the seat held by `socketId`: the vehicle is stopped, the driver (unless it asked) and watchers told. */
  private async endDriving(rt: VehicleRuntime, socketId: string, reason: 'released' | 'lease-expired' | 'driver-disconnected'): Promise<boolean> {
    const freed = await this.state.releaseDriver(rt.id, socketId);
    if (!freed) return false;
    if (rt.lease) clearTimeout(rt.lease);
    rt.lease = null;
    rt.lastSeq = -1;
    rt.pending.clear();
    rt.socket?.emit(EV.stop, { reason });
    if (reason === 'lease-expired') this.ns.to(socketId).emit(EV.driveRevoked, { vehicleId: rt.id, reason } satisfies DriveRevoked);
    await this.publishState(rt.id, true);
    return true;
  }

  /** State changes go to every signed-in socket (the vehicle list); fps-only updates only to watchers. */
  private async publishState(vehicleId: string, everyone: boolean): Promise<void> {
    const state = await this.stateOf(vehicleId);
    this.ns.to(everyone ? USERS_ROOM : WATCH_ROOM(vehicleId)).emit(EV.vehicleState, state);
  }

  private tick(): void {
    for (const rt of this.runtimes.values()) if (rt.video.tick() && rt.video.viewers > 0) void this.publishState(rt.id, false);
  }

  private takeToken(bucket: UserData['bucket']): boolean {
    const now = performance.now();
    bucket.tokens = Math.min(RELAY_LIMITS.controlBurst, bucket.tokens + ((now - bucket.at) / 1000) * RELAY_LIMITS.controlMaxHz);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    if (bucket.tokens >= RELAY_LIMITS.controlBurst - 1) bucket.notified = false; // a calm second re-arms the notice
    return true;
  }

  private scheduleExpiry(socket: Socket): void {
    const data = socket.data as UserData;
    clearTimeout(data.expiry);
    const ms = data.principal.exp * 1000 - Date.now();
    data.expiry = setTimeout(() => this.kick(socket, 'token-expired', 'token expired'), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    data.expiry.unref();
  }

  private userOf(socket: Socket): Principal {
    return (socket.data as UserData).principal;
  }

  private kick(socket: Socket, code: RelayErrorCode, message: string): void {
    this.connections.markClosing(socket, message === 'token expired' ? 'token-expired' : 'signed-out');
    socket.emit(EV.error, { code, message, event: 'connection' } satisfies RelayErrorEvent);
    socket.disconnect(true);
  }
}

function view(lock: DriverLock): DriverView {
  return { userId: lock.userId, name: lock.name };
}
