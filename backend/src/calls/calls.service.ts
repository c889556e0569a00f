import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import type { Namespace, Socket } from 'socket.io';
import type { Repository } from 'typeorm';
import type { Principal } from '../auth/decorators.js';
import { CallRecord } from '../connections/connection.entity.js';
import { ConnectionsService } from '../connections/connections.service.js';
import { CALL_EVENTS, CALL_LIMITS, type CallEndReason, type CallEnded, type CallIncoming, type CallParty, type CallSignal, type CallView, type Page } from '../protocol/index.js';

/** Raised for a refused call action; the gateway turns it into an `error` event for the sender. */
export class CallError extends Error {
  constructor(readonly code: 'user-offline' | 'busy' | 'not-in-call' | 'call-yourself' | 'forbidden', message: string) {
    super(message);
  }
}

interface Party extends CallParty {
  /** The socket bound to the call: the caller's from the start, the callee's once it accepts. */
  socketId: string | null;
}

interface Call {
  record: CallRecord;
  /** The call's row writes, in order: on a pooled database an update must not overtake the insert. */
  saved: Promise<unknown>;
  caller: Party;
  callee: Party;
  state: 'ringing' | 'active';
  ring: NodeJS.Timeout | null;
}

export const USER_ROOM = (userId: string) => `u:${userId}`;

/**
 * Face-chat signaling. The browsers carry the media peer to peer; the server only checks who may call whom and
 * relays offers, answers and candidates between the two parties of a call — never to anyone else.
 */
@Injectable()
export class CallsService implements OnModuleDestroy {
  private readonly logger = new Logger('calls');
  private readonly calls = new Map<string, Call>();
  private readonly byUser = new Map<string, string>();
  private ns?: Namespace;

  constructor(@InjectRepository(CallRecord) private readonly records: Repository<CallRecord>, private readonly connections: ConnectionsService) {
    connections.setBusyProbe((userId) => this.byUser.has(userId));
  }

  attach(ns: Namespace): void {
    this.ns = ns;
  }

  onModuleDestroy(): void {
    for (const call of this.calls.values()) if (call.ring) clearTimeout(call.ring);
  }

  busy(userId: string): boolean {
    return this.byUser.has(userId);
  }

  invite(socket: Socket, from: Principal, to: string): { ok: true; callId: string } {
    if (to === from.userId) throw new CallError('call-yourself', 'you cannot call yourself');
    if (this.byUser.has(from.userId)) throw new CallError('busy', 'you are already in a call');
    const callee = this.connections.presence().find((p) => p.userId === to);
    if (!callee) throw new CallError('user-offline', 'that user is not online');
    if (this.byUser.has(to)) throw new CallError('busy', `${callee.name} is in another call`);
    const record = this.records.create({ id: randomUUID(), callerId: from.userId, callerName: from.name, calleeId: to, calleeName: callee.name, startedAt: new Date(), answeredAt: null, endedAt: null, endReason: null, durationSeconds: null });
    const saved = this.records.insert(record).catch((err) => this.logger.error({ err }, 'cannot record a call'));
    const call: Call = { record, saved, caller: { userId: from.userId, name: from.name, socketId: socket.id }, callee: { userId: to, name: callee.name, socketId: null }, state: 'ringing', ring: null };
    call.ring = setTimeout(() => this.end(call, 'timeout'), CALL_LIMITS.ringMs);
    this.calls.set(record.id, call);
    this.byUser.set(from.userId, record.id);
    this.byUser.set(to, record.id);
    this.connections.presenceChanged();
    this.ns?.to(USER_ROOM(to)).emit(CALL_EVENTS.incoming, { callId: record.id, from: { userId: from.userId, name: from.name } } satisfies CallIncoming);
    return { ok: true, callId: record.id };
  }

  accept(socket: Socket, user: Principal, callId: string): { ok: true } {
    const call = this.mine(callId, user.userId);
    if (call.callee.userId !== user.userId || call.state !== 'ringing') throw new CallError('not-in-call', 'there is no ringing call for you with that id');
    if (call.ring) clearTimeout(call.ring);
    call.ring = null;
    call.state = 'active';
    call.callee.socketId = socket.id;
    call.record.answeredAt = new Date();
    this.write(call, { answeredAt: call.record.answeredAt });
    // The callee's other tabs stop ringing.
    socket.to(USER_ROOM(user.userId)).emit(CALL_EVENTS.ended, { callId, reason: 'hangup' } satisfies CallEnded);
    this.ns?.to(call.caller.socketId!).emit(CALL_EVENTS.accepted, { callId });
    return { ok: true };
  }

  decline(user: Principal, callId: string): { ok: true } {
    const call = this.mine(callId, user.userId);
    if (call.callee.userId !== user.userId || call.state !== 'ringing') throw new CallError('not-in-call', 'there is no ringing call for you with that id');
    this.end(call, 'declined');
    return { ok: true };
  }

  /** Relays a description or candidate to the other party of the call — only between its two bound sockets. */
  signal(socket: Socket, user: Principal, msg: CallSignal): void {
    const call = this.mine(msg.callId, user.userId);
    const [self, other] = call.caller.userId === user.userId ? [call.caller, call.callee] : [call.callee, call.caller];
    if (call.state !== 'active' || self.socketId !== socket.id || !other.socketId) throw new CallError('not-in-call', 'this socket is not a party of that active call');
    this.ns?.to(other.socketId).emit(CALL_EVENTS.signal, msg);
  }

  hangup(user: Principal, callId: string): { ok: true } {
    this.end(this.mine(callId, user.userId), 'hangup');
    return { ok: true };
  }

  /** A socket closed: a call bound to it ends for the peer; a call ringing for a user who is gone ends too. */
  socketClosed(socket: Socket, userId: string): void {
    const callId = this.byUser.get(userId);
    const call = callId ? this.calls.get(callId) : undefined;
    if (!call) return;
    const bound = call.caller.socketId === socket.id || call.callee.socketId === socket.id;
    const calleeGone = call.state === 'ringing' && call.callee.userId === userId && !this.connections.isOnline(userId, socket.id);
    if (bound || calleeGone) this.end(call, 'peer-disconnected');
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

  private write(call: Call, patch: Partial<CallRecord>): void {
    call.saved = call.saved.then(() => this.records.update({ id: call.record.id }, patch)).catch((err) => this.logger.error({ err }, 'cannot update a call record'));
  }

  private mine(callId: string, userId: string): Call {
    const call = this.calls.get(callId);
    if (!call || (call.caller.userId !== userId && call.callee.userId !== userId)) throw new CallError('not-in-call', 'you are not in a call with that id');
    return call;
  }

  private end(call: Call, reason: CallEndReason): void {
    if (!this.calls.delete(call.record.id)) return;
    if (call.ring) clearTimeout(call.ring);
    this.byUser.delete(call.caller.userId);
    this.byUser.delete(call.callee.userId);
    const endedAt = new Date();
    const durationSeconds = call.record.answeredAt ? Math.round((endedAt.getTime() - call.record.answeredAt.getTime()) / 1000) : null;
    this.write(call, { endedAt, endReason: reason, durationSeconds });
    this.connections.presenceChanged();
    const ended: CallEnded = { callId: call.record.id, reason };
    this.ns?.to(USER_ROOM(call.caller.userId)).to(USER_ROOM(call.callee.userId)).emit(CALL_EVENTS.ended, ended);
  }
}
