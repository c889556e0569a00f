import { Inject, Injectable, Logger, NotFoundException, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Socket } from 'socket.io';
import { IsNull, LessThan, type Repository, type SelectQueryBuilder } from 'typeorm';
import { AuthEvents, type AuthEventRecord } from '../auth/auth-events.js';
import type { SocketPrincipal } from '../auth/decorators.js';
import { ClusterService } from '../cluster/cluster.service.js';
import { CONFIG } from '../config/config.module.js';
import { clientAddress, proxyTrust, type AppConfig } from '../config/config.js';
import {
  can,
  CONNECTIONS_EVENTS,
  type AuthEventsQuery,
  type AuthEventView,
  type ConnectionsQuery,
  type ConnectionsUpdate,
  type ConnectionView,
  type Page,
  type PresenceEntry,
} from '../protocol/index.js';
import { ADMINS_ROOM, RelaySockets, USER_ROOM, USERS_ROOM, type SocketData } from '../sockets/relay-sockets.js';
import { AuthEvent, Connection } from './connection.entity.js';
import { csvStream } from './csv.js';

const FLUSH_MS = 30_000;
const PURGE_MS = 24 * 60 * 60 * 1000;
const PRESENCE_DEBOUNCE_MS = 200;
const EXPORT_PAGE = 1000;

/** Why a socket closed, in the log's words (Socket.IO's reasons, or the one the server set before closing it). */
const REASONS: Record<string, string> = {
  'client namespace disconnect': 'client-disconnect',
  'server namespace disconnect': 'server-disconnect',
  'transport close': 'transport-close',
  'transport error': 'transport-error',
  'ping timeout': 'ping-timeout',
  'parse error': 'parse-error',
  'forced close': 'server-disconnect',
  'server shutting down': 'server-shutdown',
};

interface Live {
  row: Connection;
  socket: Socket;
  saved: Promise<unknown>;
  dirty: boolean;
}

/** The connection log: one row per socket session, the auth events, the live list, presence and kicks. */
@Injectable()
export class ConnectionsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('connections');
  private readonly live = new Map<string, Live>();
  private timers: NodeJS.Timeout[] = [];
  private presenceTimer?: NodeJS.Timeout;
  private readonly trust: ((addr: string, i: number) => boolean) | null;

  constructor(
    @InjectRepository(Connection) private readonly connections: Repository<Connection>,
    @InjectRepository(AuthEvent) private readonly authEvents: Repository<AuthEvent>,
    private readonly events: AuthEvents,
    @Inject(CONFIG) private readonly config: AppConfig,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
  ) {
    this.trust = proxyTrust(config.trustProxy);
  }

  async onModuleInit(): Promise<void> {
    // Rows this instance left open when it crashed are closed now; their sockets are long gone. Other instances'
    // rows are theirs (rows from before instance ids existed have none).
    const res = await this.connections
      .createQueryBuilder()
      .update(Connection)
      .set({ disconnectedAt: new Date(), disconnectReason: 'server-restart' })
      .where('disconnectedAt IS NULL AND (instanceId = :me OR instanceId IS NULL)', { me: this.cluster.instanceId })
      .execute();
    if (res.affected) this.logger.log(`closed ${res.affected} connection(s) left open by the previous run`);
    // An instance that died without closing its rows: one survivor closes them.
    this.cluster.on('instance-dead', (id) => {
      void this.connections
        .update({ instanceId: id, disconnectedAt: IsNull() }, { disconnectedAt: new Date(), disconnectReason: 'instance-lost' })
        .then(() => this.schedulePresence())
        .catch((err) => this.logger.warn({ err }, 'cannot close the rows of a lost instance'));
    });
    // The others closed this instance's rows while it stood still: its sessions end now, truly, and the clients
    // reconnect (a transport close, not a kick) and open new rows wherever they land.
    this.cluster.on('declared-dead', () => {
      for (const live of this.live.values()) {
        this.markClosing(live.socket, 'instance-lost');
        live.socket.conn.close();
      }
    });
    this.cluster.handle('kick', (m) => {
      const live = this.live.get(m.connectionId as string);
      if (live) this.kickHere(live);
    });
    this.events.on('auth', (e) => void this.recordAuth(e));
    await this.purge();
    this.timers.push(setInterval(() => void this.flush(), FLUSH_MS), setInterval(() => void this.purge(), PURGE_MS));
    this.timers.forEach((t) => t.unref());
  }

  async onModuleDestroy(): Promise<void> {
    this.timers.forEach(clearInterval);
    clearTimeout(this.presenceTimer);
    await Promise.all([...this.live.values()].map((l) => this.finish(l, 'server-shutdown').catch(() => undefined)));
  }

  /** Who is in a call (face chat tells); presence shows it so nobody calls a busy user. */
  private busy: (userIds: string[]) => Promise<Set<string>> = async () => new Set();

  setBusyProbe(probe: (userIds: string[]) => Promise<Set<string>>): void {
    this.busy = probe;
  }

  /** Something presence shows changed outside the connection lifecycle (a call started or ended). */
  presenceChanged(): void {
    this.schedulePresence();
  }

  /** A socket passed the handshake: open its row, count its traffic, tell admins, update presence. */
  opened(socket: Socket, principal: SocketPrincipal): void {
    const req = socket.request as IncomingMessage;
    const row = this.connections.create({
      id: randomUUID(),
      kind: principal.kind === 'user' ? 'operator' : 'vehicle',
      userId: principal.kind === 'user' ? principal.userId : null,
      vehicleId: principal.kind === 'vehicle' ? principal.vehicleId : null,
      name: principal.kind === 'user' ? principal.email : principal.name,
      instanceId: this.cluster.instanceId,
      ip: this.clientIp(req),
      port: req.socket?.remotePort ?? null,
      userAgent: (req.headers['user-agent'] ?? '').slice(0, 512) || null,
      connectedAt: new Date(),
      disconnectedAt: null,
      disconnectReason: null,
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
    });
    // A copy goes to the insert: TypeORM writes the columns' defaults back into the object it inserts when the
    // statement completes, which would reset the counters of traffic that arrived in the meantime.
    const live: Live = { row, socket, saved: this.connections.insert({ ...row }).catch((err) => this.logger.error({ err }, 'cannot record a connection')), dirty: false };
    this.live.set(row.id, live);
    (socket.data as SocketData).connectionId = row.id;
    // Engine-level packets: every message in and out, binary attachments included, broadcasts included.
    socket.conn.on('packet', (p: { type: string; data?: unknown }) => {
      if (p.type !== 'message') return;
      if (typeof p.data === 'string') row.messagesIn++;
      row.bytesIn += size(p.data);
      live.dirty = true;
    });
    socket.conn.on('packetCreate', (p: { type: string; data?: unknown }) => {
      if (p.type !== 'message') return;
      if (typeof p.data === 'string') row.messagesOut++;
      row.bytesOut += size(p.data);
      live.dirty = true;
    });
    socket.on('disconnect', (reason) => void this.finish(live, (socket.data as SocketData).closeReason ?? REASONS[reason] ?? reason));
    (socket.data as SocketData).since = row.connectedAt.toISOString();
    if (principal.kind === 'user') {
      if (can(principal.role, 'connections:manage')) socket.join(ADMINS_ROOM);
      this.schedulePresence();
    }
    this.notify('opened', row);
  }

  /** Kick: the socket is told why, then disconnected (by whichever instance holds it); its row closes as "kicked". */
  async kick(id: string): Promise<void> {
    const live = this.live.get(id);
    if (live) return this.kickHere(live);
    const row = await this.connections.findOneBy({ id, disconnectedAt: IsNull() });
    if (!row?.instanceId || !(await this.cluster.liveInstances()).includes(row.instanceId)) throw new NotFoundException('No active connection with that id');
    this.cluster.send(row.instanceId, { t: 'kick', connectionId: id });
  }

  private kickHere(live: Live): void {
    this.markClosing(live.socket, 'kicked');
    live.socket.emit(CONNECTIONS_EVENTS.kicked, { reason: 'kicked', message: 'An administrator ended this session' });
    live.socket.disconnect(true);
  }

  /** A message the relay read outside Socket.IO's packets (a binary frame ack): counted like any other. */
  countMessageIn(socket: Socket): void {
    const id = (socket.data as SocketData).connectionId;
    const live = id ? this.live.get(id) : undefined;
    if (live) live.row.messagesIn++;
  }

  /** Names why the server is about to close a socket (the first reason given wins). */
  markClosing(socket: Socket, reason: string): void {
    (socket.data as SocketData).closeReason ??= reason;
  }

  /** The online users of every instance (Socket.IO's fetchSockets, through the Redis adapter when there are several). */
  async presence(): Promise<PresenceEntry[]> {
    const sockets = this.sockets.ns ? await this.sockets.ns.in(USERS_ROOM).fetchSockets() : [];
    const byUser = new Map<string, Omit<PresenceEntry, 'busy'>>();
    for (const s of sockets) {
      const data = s.data as SocketData;
      const p = data.principal;
      if (p?.kind !== 'user') continue;
      const since = data.since ?? new Date().toISOString();
      const seen = byUser.get(p.userId);
      if (!seen || since < seen.since) byUser.set(p.userId, { userId: p.userId, name: p.name, since });
    }
    const busy = await this.busy([...byUser.keys()]);
    return [...byUser.values()].map((e) => ({ ...e, busy: busy.has(e.userId) })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Whether the user has a socket open on any instance, not counting `exceptSocketId` (one that is closing now). */
  async isOnline(userId: string, exceptSocketId?: string): Promise<boolean> {
    if (!this.sockets.ns) return false;
    return (await this.sockets.ns.in(USER_ROOM(userId)).fetchSockets()).some((s) => s.id !== exceptSocketId);
  }

  async list(q: ConnectionsQuery): Promise<Page<ConnectionView>> {
    // Admins are told of a session as it opens, while its row is still being inserted: a list asked for after that
    // must have it.
    await Promise.all([...this.live.values()].map((l) => l.saved));
    const qb = this.filtered(q);
    const [rows, total] = await qb
      .orderBy('c.connectedAt', 'DESC')
      .addOrderBy('c.id', 'DESC')
      .skip((q.page - 1) * q.pageSize)
      .take(q.pageSize)
      .getManyAndCount();
    return { items: rows.map((r) => this.view(r)), total, page: q.page, pageSize: q.pageSize };
  }

  exportCsv(q: ConnectionsQuery): Readable {
    const cols: (keyof ConnectionView)[] = ['id', 'kind', 'userId', 'vehicleId', 'name', 'instanceId', 'ip', 'port', 'userAgent', 'connectedAt', 'disconnectedAt', 'disconnectReason', 'messagesIn', 'messagesOut', 'bytesIn', 'bytesOut'];
    return csvStream<Connection>(
      cols,
      (r) => {
        const v = this.view(r);
        return cols.map((c) => v[c]);
      },
      (last) => {
        const qb = this.filtered(q).orderBy('c.connectedAt', 'DESC').addOrderBy('c.id', 'DESC').take(EXPORT_PAGE);
        if (last) qb.andWhere('(c.connectedAt < :at OR (c.connectedAt = :at AND c.id < :id))', { at: last.connectedAt, id: last.id });
        return qb.getMany();
      },
    );
  }

  async listAuthEvents(q: AuthEventsQuery): Promise<Page<AuthEventView>> {
    const [rows, total] = await this.filteredAuth(q)
      .orderBy('e.at', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .skip((q.page - 1) * q.pageSize)
      .take(q.pageSize)
      .getManyAndCount();
    return { items: rows.map(authView), total, page: q.page, pageSize: q.pageSize };
  }

  exportAuthEventsCsv(q: AuthEventsQuery): Readable {
    const cols: (keyof AuthEventView)[] = ['id', 'at', 'email', 'userId', 'ip', 'userAgent', 'outcome'];
    return csvStream<AuthEvent>(
      cols,
      (r) => {
        const v = authView(r);
        return cols.map((c) => v[c]);
      },
      (last) => {
        const qb = this.filteredAuth(q).orderBy('e.at', 'DESC').addOrderBy('e.id', 'DESC').take(EXPORT_PAGE);
        if (last) qb.andWhere('(e.at < :at OR (e.at = :at AND e.id < :id))', { at: last.at, id: last.id });
        return qb.getMany();
      },
    );
  }

  /** Deletes closed connections and auth events older than CONNECTION_RETENTION_DAYS. */
  async purge(now = new Date()): Promise<{ connections: number; authEvents: number }> {
    const before = new Date(now.getTime() - this.config.connectionRetentionDays * 24 * 60 * 60 * 1000);
    const c = await this.connections.delete({ disconnectedAt: LessThan(before) });
    const a = await this.authEvents.delete({ at: LessThan(before) });
    return { connections: c.affected ?? 0, authEvents: a.affected ?? 0 };
  }

  /** Writes the live counters of open rows (every 30 s, and at close). */
  async flush(): Promise<void> {
    for (const live of this.live.values()) {
      if (!live.dirty) continue;
      live.dirty = false;
      const { messagesIn, messagesOut, bytesIn, bytesOut } = live.row;
      await live.saved;
      await this.connections.update({ id: live.row.id }, { messagesIn, messagesOut, bytesIn, bytesOut }).catch(() => undefined);
      this.notify('updated', live.row);
    }
  }

  private async finish(live: Live, reason: string): Promise<void> {
    if (!this.live.delete(live.row.id)) return;
    const { row } = live;
    row.disconnectedAt = new Date();
    row.disconnectReason = reason.slice(0, 32);
    await live.saved;
    await this.connections
      .update({ id: row.id }, { disconnectedAt: row.disconnectedAt, disconnectReason: row.disconnectReason, messagesIn: row.messagesIn, messagesOut: row.messagesOut, bytesIn: row.bytesIn, bytesOut: row.bytesOut })
      .catch((err) => this.logger.error({ err }, 'cannot close a connection row'));
    this.notify('closed', row);
    if (row.kind === 'operator') this.schedulePresence();
  }

  private async recordAuth(e: AuthEventRecord): Promise<void> {
    await this.authEvents.insert({ id: randomUUID(), ...e, userAgent: e.userAgent?.slice(0, 512) ?? null }).catch((err) => this.logger.error({ err }, 'cannot record an auth event'));
  }

  private notify(type: ConnectionsUpdate['type'], row: Connection): void {
    if (this.sockets.ns) this.sockets.to(ADMINS_ROOM).emit(CONNECTIONS_EVENTS.update, { type, connection: this.view(row) } satisfies ConnectionsUpdate);
  }

  /** After a change, every signed-in socket of every instance gets the new list (debounced). */
  private schedulePresence(): void {
    clearTimeout(this.presenceTimer);
    this.presenceTimer = setTimeout(() => {
      this.presence().then(
        (list) => this.sockets.to(USERS_ROOM).emit(CONNECTIONS_EVENTS.presence, list),
        (err) => this.logger.warn({ err }, 'cannot compute presence'),
      );
    }, PRESENCE_DEBOUNCE_MS);
  }

  private filtered(q: ConnectionsQuery): SelectQueryBuilder<Connection> {
    const qb = this.connections.createQueryBuilder('c');
    if (q.state === 'active') qb.andWhere('c.disconnectedAt IS NULL');
    if (q.state === 'closed') qb.andWhere('c.disconnectedAt IS NOT NULL');
    if (q.kind) qb.andWhere('c.kind = :kind', { kind: q.kind });
    if (q.userId) qb.andWhere('c.userId = :userId', { userId: q.userId });
    if (q.vehicleId) qb.andWhere('c.vehicleId = :vehicleId', { vehicleId: q.vehicleId });
    if (q.from) qb.andWhere('c.connectedAt >= :from', { from: q.from });
    if (q.to) qb.andWhere('c.connectedAt <= :to', { to: q.to });
    return qb;
  }

  private filteredAuth(q: AuthEventsQuery): SelectQueryBuilder<AuthEvent> {
    const qb = this.authEvents.createQueryBuilder('e');
    if (q.outcome) qb.andWhere('e.outcome = :outcome', { outcome: q.outcome });
    if (q.email) qb.andWhere('e.email = :email', { email: q.email.toLowerCase() });
    if (q.userId) qb.andWhere('e.userId = :userId', { userId: q.userId });
    if (q.from) qb.andWhere('e.at >= :from', { from: q.from });
    if (q.to) qb.andWhere('e.at <= :to', { to: q.to });
    return qb;
  }

  /** Rows of live sockets show their current counters, not the last flushed ones. */
  private view(r: Connection): ConnectionView {
    const row = this.live.get(r.id)?.row ?? r;
    return {
      id: row.id,
      kind: row.kind,
      userId: row.userId,
      vehicleId: row.vehicleId,
      name: row.name,
      instanceId: row.instanceId,
      ip: row.ip,
      port: row.port,
      userAgent: row.userAgent,
      connectedAt: row.connectedAt.toISOString(),
      disconnectedAt: row.disconnectedAt?.toISOString() ?? null,
      disconnectReason: row.disconnectReason,
      messagesIn: row.messagesIn,
      messagesOut: row.messagesOut,
      bytesIn: row.bytesIn,
      bytesOut: row.bytesOut,
    };
  }

  private clientIp(req: IncomingMessage): string | null {
    // X-Forwarded-For is believed only as far as TRUST_PROXY says.
    return clientAddress(req, this.trust);
  }
}

function authView(e: AuthEvent): AuthEventView {
  return { id: e.id, at: e.at.toISOString(), email: e.email, userId: e.userId, ip: e.ip, userAgent: e.userAgent, outcome: e.outcome };
}

function size(data: unknown): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

