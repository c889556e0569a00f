import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io';
import type { Repository } from 'typeorm';
import type { Principal } from '../auth/decorators.js';
import { ClusterService } from '../cluster/cluster.service.js';
import { ConnectionsService } from '../connections/connections.service.js';
import { CALL_EVENTS, CALL_LIMITS, type CallEndReason, type CallEnded, type CallIncoming, type CallSignal, type CallView, type Page } from '../protocol/index.js';
import { RelaySockets, USER_ROOM } from '../sockets/relay-sockets.js';
import { CallRecord } from './call.entity.js';
import { CALL_STORE, type CallState, type CallStore } from './call-store.js';

/** Raised for a refused call action; the gateway turns it into an `error` event for the sender. */
export class CallError extends Error {
  constructor(readonly code: 'user-offline' | 'busy' | 'not-in-call' | 'call-yourself' | 'forbidden' | 'unavailable', message: string) {
    super(message);
  }
}

/**
 * Face-chat signaling. The browsers carry the media peer to peer; the server only checks who may call whom and
 * relays offers, answers and candidates between the two parties of a call — never to anyone else. Calls in progress
 * live in a store the instances share, so the caller and the callee may be connected to different instances.
 */
@Injectable()
export class CallsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('calls');
  /** Ring timers of the calls this instance started. */
  private readonly rings = new Map<string, NodeJS.Timeout>();

  constructor(
    @InjectRepository(CallRecord) private readonly records: Repository<CallRecord>,
    @Inject(CALL_STORE) private readonly store: CallStore,
    private readonly connections: ConnectionsService,
    private readonly sockets: RelaySockets,
    private readonly cluster: ClusterService,
  ) {
    connections.setBusyProbe((userIds) => this.store.busy(userIds).catch(() => new Set<string>()));
  }

  onModuleInit(): void {
    // An instance that died ends the calls bound to its sockets (one survivor does it).
    this.cluster.on('instance-dead', (id) => void this.endCallsOf(id));
  }

  onModuleDestroy(): void {
    for (const t of this.rings.values()) clearTimeout(t);
  }

  async invite(socket: Socket, from: Principal, to: string): Promise<{ ok: true; callId: string }> {
    if (to === from.userId) throw new CallError('call-yourself', 'you cannot call yourself');
    const callee = (await this.connections.presence()).find((p) => p.userId === to);
    if (!callee) throw new CallError('user-offline', 'that user is not online');
    const call: CallState = {
      id: randomUUID(),
      caller: { userId: from.userId, name: from.name, socketId: socket.id, instanceId: this.cluster.instanceId },
      callee: { userId: to, name: callee.name, socketId: null, instanceId: null },
      state: 'ringing',
      startedAt: new Date().toISOString(),
      answeredAt: null,
    };
    const created = await this.store.create(call).catch(() => {
      throw new CallError('unavailable', 'calls are unavailable right now');
    });
    if (created === 'caller-busy') throw new CallError('busy', 'you are already in a call');
    if (created === 'callee-busy') throw new CallError('busy', `${callee.name} is in another call`);
    this.rings.set(
      call.id,
      setTimeout(() => void this.timeout(call.id), CALL_LIMITS.ringMs),
    );
    // Ignored when the call already ended (and its whole row was written) before this insert got its turn.
    void this.records
      .createQueryBuilder()
      .insert()
      .values({ id: call.id, callerId: from.userId, callerName: from.name, calleeId: to, calleeName: callee.name, startedAt: new Date(call.startedAt), answeredAt: null, endedAt: null, endReason: null, durationSeconds: null })
      .orIgnore()
      .execute()
      .catch((err) => this.logger.error({ err }, 'cannot record a call'));
    this.connections.presenceChanged();
    this.sockets.to(USER_ROOM(to)).emit(CALL_EVENTS.incoming, { callId: call.id, from: { userId: from.userId, name: from.name } } satisfies CallIncoming);
    return { ok: true, callId: call.id };
  }

  async accept(socket: Socket, user: Principal, callId: string): Promise<{ ok: true }> {
    const call = await this.mine(callId, user.userId);
    if (call.callee.userId !== user.userId || call.state !== 'ringing') throw new CallError('not-in-call', 'there is no ringing call for you with that id');
    call.state = 'active';
    call.callee.socketId = socket.id;
    call.callee.instanceId = this.cluster.instanceId;
    call.answeredAt = new Date().toISOString();
    await this.store.update(call);
    // The callee's other tabs stop ringing.
    socket.to(USER_ROOM(user.userId)).emit(CALL_EVENTS.ended, { callId, reason: 'hangup' } satisfies CallEnded);
    this.sockets.to(call.caller.socketId!).emit(CALL_EVENTS.accepted, { callId });
    return { ok: true };
  }

  async decline(user: Principal, callId: string): Promise<{ ok: true }> {
    const call = await this.mine(callId, user.userId);
    if (call.callee.userId !== user.userId || call.state !== 'ringing') throw new CallError('not-in-call', 'there is no ringing call for you with that id');
    await this.end(call, 'declined');
    return { ok: true };
  }

  /** Relays a description or candidate to the other party of the call — only between its two bound sockets. */
  async signal(socket: Socket, user: Principal, msg: CallSignal): Promise<void> {
    const call = await this.mine(msg.callId, user.userId);
    const [self, other] = call.caller.userId === user.userId ? [call.caller, call.callee] : [call.callee, call.caller];
    if (call.state !== 'active' || self.socketId !== socket.id || !other.socketId) throw new CallError('not-in-call', 'this socket is not a party of that active call');
    this.sockets.to(other.socketId).emit(CALL_EVENTS.signal, msg);
  }

  async hangup(user: Principal, callId: string): Promise<{ ok: true }> {
    await this.end(await this.mine(callId, user.userId), 'hangup');
    return { ok: true };
  }

  /** A socket closed: a call bound to it ends for the peer; a call ringing for a user who is gone ends too. */
  socketClosed(socket: Socket, userId: string): void {
    void (async () => {
      const callId = await this.store.byUser(userId);
      const call = callId ? await this.store.get(callId) : null;
      if (!call) return;
      const bound = call.caller.socketId === socket.id || call.callee.socketId === socket.id;
      const calleeGone = call.state === 'ringing' && call.callee.userId === userId && !(await this.connections.isOnline(userId, socket.id));
      if (bound || calleeGone) await this.end(call, 'peer-disconnected');
    })().catch((err) => this.logger.warn({ err }, 'cannot end a call of a closed socket'));
  }

  async list(page: number, pageSize: number): Promise<Page<CallView>> {
    const [rows, total] = await this.records.findAndCount({ order: { startedAt: 'DESC', id: 'DESC' }, skip: (page - 1) * pageSize, take: pageSize });
    return {
      items: rows.map((r) => ({
        id: r.id,
        callerId: r.callerId,
        callerName: r.callerName,
        calleeId: r.calleeId,
        calleeName: r.calleeName,
        startedAt: r.startedAt.toISOString(),
        answeredAt: r.answeredAt?.toISOString() ?? null,
        endedAt: r.endedAt?.toISOString() ?? null,
        endReason: (r.endReason as CallEndReason | null) ?? null,
        durationSeconds: r.durationSeconds,
      })),
      total,
      page,
      pageSize,
    };
  }

  private async mine(callId: string, userId: string): Promise<CallState> {
    const call = await this.store.get(callId);
    if (!call || (call.caller.userId !== userId && call.callee.userId !== userId)) throw new CallError('not-in-call', 'you are not in a call with that id');
    return call;
  }

  private async timeout(callId: string): Promise<void> {
    this.rings.delete(callId);
    const call = await this.store.get(callId).catch(() => null);
    if (call?.state === 'ringing') await this.end(call, 'timeout');
  }

  /** Ends a call once, whichever instance gets here first: the log row is completed, both parties told. */
  private async end(call: CallState, reason: CallEndReason): Promise<void> {
    if (!(await this.store.remove(call))) return;
    const ring = this.rings.get(call.id);
    if (ring) clearTimeout(ring);
    this.rings.delete(call.id);
    const endedAt = new Date();
    const answeredAt = call.answeredAt ? new Date(call.answeredAt) : null;
    const durationSeconds = answeredAt ? Math.round((endedAt.getTime() - answeredAt.getTime()) / 1000) : null;
    // The whole row at once: on a shared database the invite's insert may still be on its way from another instance.
    await this.records
      .upsert(
        { id: call.id, callerId: call.caller.userId, callerName: call.caller.name, calleeId: call.callee.userId, calleeName: call.callee.name, startedAt: new Date(call.startedAt), answeredAt, endedAt, endReason: reason, durationSeconds },
        ['id'],
      )
      .catch((err) => this.logger.error({ err }, 'cannot complete a call record'));
    this.connections.presenceChanged();
    const ended: CallEnded = { callId: call.id, reason };
    this.sockets.to([USER_ROOM(call.caller.userId), USER_ROOM(call.callee.userId)]).emit(CALL_EVENTS.ended, ended);
  }

  private async endCallsOf(instanceId: string): Promise<void> {
    for (const call of await this.store.all().catch(() => [])) {
      if (call.caller.instanceId === instanceId || call.callee.instanceId === instanceId) await this.end(call, 'peer-disconnected');
    }
  }
}
