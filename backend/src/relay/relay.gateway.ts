import { DashboardService } from '../dashboard/dashboard.service.js';
import { HttpException, Logger, type BeforeApplicationShutdown, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { WebSocketGateway, WebSocketServer, type OnGatewayConnection, type OnGatewayDisconnect, type OnGatewayInit } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import type { Duplex } from 'node:stream';
import { AuthEvents } from '../auth/auth-events.js';
import { AuthService } from '../auth/auth.service.js';
import type { Principal, SocketPrincipal } from '../auth/decorators.js';
import { CallError, CallsService } from '../calls/calls.service.js';
import { ClusterService } from '../cluster/cluster.service.js';
import { ConnectionsService } from '../connections/connections.service.js';
import { DatabaseBusyError } from '../database/database.service.js';
import { requestContext } from '../logging/logger.js';
import { MetricsService } from '../metrics/metrics.service.js';
import {
  HANDSHAKE_UNAUTHORIZED,
  type HandshakeRefusal,
  CALL_EVENTS,
  can,
  DASHBOARD_EVENTS,
  checkBounds,
  decodeFrameAck,
  BINARY_FRAME,
  parseBinaryFrame,
  parseInbound,
  VideoCapsSchema,
  RELAY_EVENTS as EV,
  RELAY_LIMITS,
  RELAY_NAMESPACE,
  type FrameMeta,
  type ClockAck,
  type Hello,
  type RelayErrorCode,
  type RelayErrorEvent,
  type VehicleStats,
  type WatchAck,
} from '../protocol/index.js';
import { RelayDecoder, relayParser } from '../sockets/relay-parser.js';
import { SocketCaps } from '../sockets/socket-caps.js';
import { principalOf, RelaySockets, SESSION_ROOM, USER_ROOM, USERS_ROOM, userOf, vehicleOf, type SocketData } from '../sockets/relay-sockets.js';
import { VehiclesService } from '../vehicles/vehicles.service.js';
import { DrivingError, DrivingService } from './driving.service.js';
import { PresenceService } from './presence.service.js';
import { VehicleStateService } from './vehicle-state.service.js';
import { TelemetryRateError, TelemetryService } from './telemetry.service.js';
import { VideoError, VideoService } from './video.service.js';

type Ack = (reply: unknown) => void;
type Handler = (socket: Socket, data: any, binary?: Uint8Array) => Promise<unknown> | unknown;

class RelayError extends Error {
  constructor(readonly code: RelayErrorCode, message: string) {
    super(message);
  }
}

/** Connected vehicles' tokens are checked this often, so a rotation or deletion made elsewhere (the CLI, another instance) closes them. */
const TOKEN_RECHECK_MS = 5000;
/** How long sockets get to close by themselves at shutdown before their connections are cut. */
const SHUTDOWN_GRACE_MS = 500;

/**
 * The relay's transport: it authenticates each socket in its handshake (the same AuthService as HTTP), admits it,
 * validates every event against the protocol module, and dispatches it to the service that owns the rule —
 * driving, video, presence, calls. It holds no rule of its own.
 */
@WebSocketGateway({ namespace: RELAY_NAMESPACE, maxHttpBufferSize: RELAY_LIMITS.maxMessageBytes, perMessageDeflate: false, serveClient: false, parser: relayParser })
export class RelayGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect, OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  @WebSocketServer() ns: Namespace;

  private readonly logger = new Logger('relay');
  private readonly upgraded = new Set<Duplex>();
  private readonly expiries = new WeakMap<Socket, NodeJS.Timeout>();
  private tokenCheck?: NodeJS.Timeout;
  private eventSeq = 0;
  /** Extra admission rules for new sockets (maintenance mode plugs in here); a string refuses with that message. */
  private admission: (p: SocketPrincipal) => Promise<string | null> = async () => null;

  /** What each validated event does; which events exist, who may send them and their schemas are in INBOUND_EVENTS. */
  private readonly handlers: Record<string, Handler> = {
    [EV.watch]: async (s, d) => {
      await this.mustExist(d.vehicleId);
      const codec = await this.video.watch(s, d.vehicleId, userOf(s), d.codecs);
      return { ok: true, state: await this.state.stateOf(d.vehicleId), codec } satisfies WatchAck;
    },
    [EV.unwatch]: async (s, d) => {
      await this.video.unwatch(s, d.vehicleId);
      return { ok: true, state: await this.state.stateOf(d.vehicleId) };
    },
    [EV.driveAcquire]: async (s, d) => {
      await this.mustExist(d.vehicleId);
      return this.driving.acquire(s, d.vehicleId, d.force === true);
    },
    [EV.driveRelease]: (s, d) => this.driving.release(s, d.vehicleId),
    [EV.control]: (s, d) => this.driving.control(s, d),
    [EV.estop]: async (s, d) => {
      await this.mustExist(d.vehicleId);
      await this.driving.estop(s, d.vehicleId, this.video.isWatching(s, d.vehicleId));
      return { ok: true, state: await this.state.stateOf(d.vehicleId) };
    },
    [EV.estopClear]: async (s, d) => {
      await this.driving.estopClear(s, d.vehicleId);
      return { ok: true, state: await this.state.stateOf(d.vehicleId) };
    },
    [EV.frameAck]: (s, d) => this.video.ack(s, d.vehicleId, d.seq),
    [EV.reauth]: (s, d) => this.reauth(s, d.token),
    [EV.frame]: (s, d, bytes) => this.frame(s, d, bytes!),
    [EV.telemetry]: (s, d) => this.telemetry.fromVehicle(s, vehicleOf(s).vehicleId, d),
    [EV.controlAck]: (s, d) => this.driving.vehicleAck(vehicleOf(s).vehicleId, d.seq),
    [EV.videoCaps]: async (s, d) => {
      const { vehicleId } = vehicleOf(s);
      await this.presence.setCaps(vehicleId, s, d);
      this.video.capsFromVehicle(vehicleId);
    },
    [EV.clock]: (_s, d) => ({ ok: true, t0: d.t0, server: Date.now() }) satisfies ClockAck,
    [DASHBOARD_EVENTS.watch]: (s) => {
      if (!can(userOf(s).role, 'dashboard:view')) throw new RelayError('forbidden', 'the dashboard is for admins');
      return this.dashboard.watch(s);
    },
    [DASHBOARD_EVENTS.unwatch]: (s) => this.dashboard.unwatch(s),
    [CALL_EVENTS.invite]: (s, d) => this.calls.invite(s, userOf(s), d.to),
    [CALL_EVENTS.accept]: (s, d) => this.calls.accept(s, userOf(s), d.callId),
    [CALL_EVENTS.decline]: (s, d) => this.calls.decline(userOf(s), d.callId),
    [CALL_EVENTS.signal]: (s, d) => this.calls.signal(s, userOf(s), d),
    [CALL_EVENTS.hangup]: (s, d) => this.calls.hangup(userOf(s), d.callId),
  };

  constructor(
    private readonly auth: AuthService,
    private readonly authEvents: AuthEvents,
    private readonly vehicles: VehiclesService,
    private readonly connections: ConnectionsService,
    private readonly calls: CallsService,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
    private readonly presence: PresenceService,
    private readonly driving: DrivingService,
    private readonly video: VideoService,
    private readonly state: VehicleStateService,
    private readonly dashboard: DashboardService,
    private readonly metrics: MetricsService,
    private readonly telemetry: TelemetryService,
    private readonly caps: SocketCaps,
  ) {}

  onModuleInit(): void {
    // Sessions ended anywhere (sign-out, password change, disabled): every instance closes its sockets of them.
    this.authEvents.on('revoked', ({ userId, sessionIds, reason }) => this.cluster.broadcast({ t: 'close-user', userId, sessionIds, reason }));
    this.cluster.handle('close-user', (m) => {
      const { userId, sessionIds, reason } = m as unknown as { userId: string; sessionIds?: string[]; reason: string };
      for (const socket of this.sockets.localSockets()) {
        const p = principalOf(socket);
        if (p?.kind === 'user' && p.userId === userId && (!sessionIds || sessionIds.includes(p.sessionId))) this.kick(socket, 'token-expired', `signed out (${reason})`);
      }
    });
    this.cluster.handle('close-vehicle', (m) => {
      const { tokenHash, vehicleId, reason } = m as unknown as { tokenHash?: string; vehicleId?: string; reason: string };
      for (const socket of this.sockets.localSockets()) {
        const p = principalOf(socket);
        if (p?.kind === 'vehicle' && (p.tokenHash === tokenHash || p.vehicleId === vehicleId)) {
          this.connections.markClosing(socket, reason);
          socket.disconnect(true);
        }
      }
      if (vehicleId) {
        this.driving.forget(vehicleId);
        this.video.forget(vehicleId);
        this.telemetry.forget(vehicleId);
        this.presence.forget(vehicleId);
      }
    });
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
    for (const socket of this.sockets.localSockets()) this.connections.markClosing(socket, 'server-shutdown');
    this.ns.local.disconnectSockets(true);
    engine.close();
    const deadline = Date.now() + SHUTDOWN_GRACE_MS;
    while (this.upgraded.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const raw of this.upgraded) raw.destroy();
  }

  onModuleDestroy(): void {
    clearInterval(this.tokenCheck);
  }

  setAdmission(rule: (p: SocketPrincipal) => Promise<string | null>): void {
    this.admission = rule;
  }

  afterInit(ns: Namespace): void {
    this.sockets.attach(ns);
    void this.cluster.join(ns.server);
    // Upgraded (WebSocket) connections are not the HTTP server's to close: they are tracked for shutdown.
    ns.server.httpServer?.on('upgrade', (_req: unknown, raw: Duplex) => {
      this.upgraded.add(raw);
      raw.once('close', () => this.upgraded.delete(raw));
    });
    // Authentication happens in the handshake, by the same service that checks HTTP bearers.
    ns.use((socket, next) => {
      this.auth
        .verifyHandshake(socket.handshake.auth)
        .then(async (principal) => {
          const refused = await this.admission(principal);
          if (refused) return next(Object.assign(new Error(refused), { data: { code: 'maintenance' } satisfies HandshakeRefusal }));
          if (principal.kind === 'vehicle') await this.vehicles.get(principal.vehicleId);
          const place = this.caps.admit(principal, this.caps.address(socket.request));
          if ('limit' in place) {
            this.metrics.socketsRefused.inc({ limit: place.limit });
            return next(Object.assign(new Error(place.message), { data: { code: 'too-many-connections' } satisfies HandshakeRefusal }));
          }
          // Released when the socket closes, or at once if Socket.IO drops it before it connects.
          socket.once('disconnect', place.release);
          socket.conn.once('close', place.release);
          // A vehicle may say what video it sends right in its handshake, so its first watchers get the right codec.
          const given = (socket.handshake.auth as { caps?: unknown } | undefined)?.caps;
          const caps = principal.kind === 'vehicle' && given !== undefined && !checkBounds(given, { maxBytes: 256, maxDepth: 3 }) ? VideoCapsSchema.safeParse(given) : null;
          (socket.data as SocketData) = { principal, ...(caps?.success ? { caps: caps.data } : {}) };
          next();
        })
        .catch((err: unknown) => next(this.handshakeRefusal(err)));
    });
  }

  /**
   * Credentials refused (a 4xx from the auth path: bad, expired or revoked token, unknown vehicle) say `unauthorized`,
   * and clients stop or sign in again. Anything else (the database away or busy) is passing: a message with a code,
   * and clients try again; a vehicle agent must not shut down over its server's database hiccup.
   */
  private handshakeRefusal(err: unknown): Error {
    if (err instanceof HttpException && err.getStatus() < 500) return new Error(HANDSHAKE_UNAUTHORIZED);
    const data: HandshakeRefusal = { code: err instanceof DatabaseBusyError ? 'database-busy' : 'unavailable' };
    if (data.code === 'unavailable') this.logger.error({ err }, 'cannot check a handshake');
    return Object.assign(new Error('the server cannot check credentials right now; try again'), { data });
  }

  handleConnection(socket: Socket): void {
    const principal = principalOf(socket);
    if (!principal) return void socket.disconnect(true);
    socket.onAny((event: unknown, ...args: unknown[]) => this.dispatch(socket, event, args));
    const decoder = (socket.client as unknown as { decoder?: unknown }).decoder;
    if (decoder instanceof RelayDecoder) decoder.onTagged = (tag, data) => (tag === BINARY_FRAME.tag ? this.binaryFrame(socket, data) : this.binaryAck(socket, data));
    if (principal.kind === 'user') {
      socket.join([USERS_ROOM, USER_ROOM(principal.userId), SESSION_ROOM(principal.sessionId)]);
      this.scheduleExpiry(socket, principal.exp);
    }
    this.connections.opened(socket, principal);
    socket.emit(EV.hello, { instanceId: this.cluster.instanceId } satisfies Hello);
    if (principal.kind === 'vehicle') void this.presence.connected(socket, principal).catch((err) => this.logger.error({ err }, 'vehicle presence failed'));
  }

  handleDisconnect(socket: Socket): void {
    const p = principalOf(socket);
    if (!p) return;
    if (p.kind === 'user') {
      clearTimeout(this.expiries.get(socket));
      this.calls.socketClosed(socket, p.userId);
      this.video.socketClosed(socket);
      this.driving.socketClosed(socket);
    } else this.presence.disconnected(socket, p);
  }

  // ---- for the REST side -----------------------------------------------------------------------------------------

  stateOf(vehicleId: string) {
    return this.state.stateOf(vehicleId);
  }

  /** This instance's relay counters for a vehicle (each instance counts what passes through it). */
  async statsOf(vehicleId: string): Promise<VehicleStats> {
    const [live, video, controls] = [await this.state.stateOf(vehicleId), this.video.stats(vehicleId), this.driving.counts(vehicleId)];
    return { vehicleId, online: live.online, ...video, fps: live.fps, ...controls, ...this.telemetry.stats(vehicleId) };
  }

  /** A rotated token: the sockets that authenticated with the old one are closed, wherever they are. */
  disconnectVehicleToken(oldHash: string): void {
    this.cluster.broadcast({ t: 'close-vehicle', tokenHash: oldHash, reason: 'token-rotated' });
  }

  async vehicleDeleted(vehicleId: string): Promise<void> {
    this.cluster.broadcast({ t: 'close-vehicle', vehicleId, reason: 'vehicle-deleted' });
    await this.driving.forgetShared(vehicleId);
    this.state.publishGone(vehicleId);
  }

  /** Closes vehicle sockets here whose token was rotated or whose vehicle was deleted since they connected. */
  async recheckVehicleTokens(): Promise<void> {
    const sockets = this.sockets.localSockets().filter((s) => principalOf(s)?.kind === 'vehicle');
    if (!sockets.length) return;
    const current = await this.vehicles.tokenHashes([...new Set(sockets.map((s) => vehicleOf(s).vehicleId))]);
    for (const socket of sockets) {
      const p = vehicleOf(socket);
      const hash = current.get(p.vehicleId);
      if (hash === p.tokenHash) continue;
      this.connections.markClosing(socket, hash ? 'token-rotated' : 'vehicle-deleted');
      socket.disconnect(true);
    }
  }

  // ---- dispatch ---------------------------------------------------------------------------------------------------

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
      const inbound = parseInbound(name, args, principalOf(socket)!.kind);
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

  /** A frame ack in its binary form (see `BINARY_FRAME_ACK`): the same rules and handler as the `frame:ack` event. */
  private binaryAck(socket: Socket, data: Uint8Array): void {
    try {
      if (principalOf(socket)?.kind !== 'user') throw new RelayError('forbidden', `a vehicle cannot send ${EV.frameAck}`);
      this.connections.countMessageIn(socket);
      const decoded = decodeFrameAck(data);
      if (!decoded.ok) throw new RelayError('invalid-payload', decoded.message);
      this.video.ack(socket, decoded.ack.vehicleId, decoded.ack.seq);
    } catch (err) {
      this.fail(socket, EV.frameAck, undefined, err);
    }
  }

  /**
   * A frame in its binary form (see `BINARY_FRAME`): the same rules and handler as the `frame` event, without the
   * Socket.IO parser and dispatcher in between.
   */
  private binaryFrame(socket: Socket, data: Uint8Array): void {
    try {
      this.connections.countMessageIn(socket);
      const inbound = parseBinaryFrame(data, principalOf(socket)!.kind);
      if (!inbound.ok) throw new RelayError(inbound.code, inbound.message);
      this.frame(socket, inbound.data, inbound.binary!);
    } catch (err) {
      this.fail(socket, EV.frame, undefined, err);
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
    const known = err instanceof RelayError || err instanceof DrivingError || err instanceof VideoError || err instanceof CallError || err instanceof TelemetryRateError;
    if (!known) this.logger.error({ err, event, socketId: socket.id }, 'relay handler failed');
    const body: RelayErrorEvent = known ? { code: (err as RelayError).code, message: (err as Error).message, event } : { code: 'internal', message: 'internal error', event };
    try {
      // A client that stopped reading while it keeps sending must not queue an error per message without bound.
      if (this.sockets.backlog(socket.id) > RELAY_LIMITS.watcherBacklogBytes) this.metrics.errorsDropped.inc();
      else socket.emit(EV.error, body);
    } catch (e) {
      this.logger.error({ err: e }, 'cannot send an error event');
    }
    this.reply(ack, { ok: false, error: body });
  }

  // ---- events that stay here --------------------------------------------------------------------------------------

  private async mustExist(vehicleId: string): Promise<void> {
    if (this.presence.knownHome(vehicleId)) return;
    await this.vehicles.get(vehicleId).catch(() => {
      throw new RelayError('unknown-vehicle', `no vehicle ${vehicleId}`);
    });
  }

  private async reauth(socket: Socket, token: string) {
    const current = userOf(socket);
    let next: Principal;
    try {
      next = await this.auth.verifyAccessToken(token);
    } catch {
      throw new RelayError('token-expired', 'that token is not valid');
    }
    if (next.userId !== current.userId) throw new RelayError('forbidden', 'a socket cannot change its user');
    (socket.data as SocketData).principal = { kind: 'user', ...next };
    this.scheduleExpiry(socket, next.exp);
    return { ok: true };
  }

  private frame(socket: Socket, meta: FrameMeta, data: Uint8Array): void {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const problem = meta.codec === 'jpeg' ? jpegProblem(bytes) : avccProblem(bytes);
    if (problem) throw new RelayError('invalid-payload', problem);
    const { vehicleId } = vehicleOf(socket);
    if (this.presence.local(vehicleId)?.socket.id !== socket.id) return; // replaced by a newer connection
    this.video.frameFromVehicle(vehicleId, meta, bytes);
  }

  private scheduleExpiry(socket: Socket, exp: number): void {
    clearTimeout(this.expiries.get(socket));
    const ms = exp * 1000 - Date.now();
    const t = setTimeout(() => this.kick(socket, 'token-expired', 'token expired'), Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    t.unref();
    this.expiries.set(socket, t);
  }

  private kick(socket: Socket, code: RelayErrorCode, message: string): void {
    this.connections.markClosing(socket, message === 'token expired' ? 'token-expired' : 'signed-out');
    socket.emit(EV.error, { code, message, event: 'connection' } satisfies RelayErrorEvent);
    socket.disconnect(true);
  }
}

/** A JPEG starts with SOI (FF D8). */
function jpegProblem(b: Buffer): string | null {
  return b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 ? null : 'the second argument must be the JPEG bytes (binary)';
}

/** An H.264 access unit in AVC format: NAL units with 4-byte big-endian lengths that cover the buffer exactly. */
function avccProblem(b: Buffer): string | null {
  let i = 0;
  let units = 0;
  while (i + 4 <= b.length) {
    const n = b.readUInt32BE(i);
    if (n === 0 || i + 4 + n > b.length) break;
    i += 4 + n;
    units++;
  }
  return units > 0 && i === b.length ? null : 'the second argument must be an H.264 access unit in AVC format (length-prefixed NAL units)';
}
