import { Injectable } from '@nestjs/common';
import type { Namespace, Socket } from 'socket.io';
import type { Principal, SocketPrincipal, VehiclePrincipal } from '../auth/decorators.js';
import type { VideoCaps } from '../protocol/index.js';
import { batchWebSocketWrites } from './engine-writes.js';
import { backlogBytes, fanOutFrame } from './frame-fanout.js';

/** Every signed-in user socket: vehicle state and presence go here. */
export const USERS_ROOM = 'users';
/** Admin sockets: the live connection log. */
export const ADMINS_ROOM = 'admins';
/** Every socket of one user (face chat rings all of them). */
export const USER_ROOM = (userId: string) => `u:${userId}`;
/** Every socket of one session (signing out closes them). */
export const SESSION_ROOM = (sessionId: string) => `s:${sessionId}`;
/** Watchers of one vehicle: telemetry and fps updates. */
export const WATCH_ROOM = (vehicleId: string) => `v:${vehicleId}`;
/** The socket of one vehicle, wherever it is connected. */
export const VEHICLE_ROOM = (vehicleId: string) => `vehicle:${vehicleId}`;

export type UserPrincipal = { kind: 'user' } & Principal;

/**
 * The relay namespace as the services see it: emits by room or socket id reach every instance (through the Redis
 * adapter when there are several), `local` only this one. The gateway hands over the namespace when it starts.
 */
@Injectable()
export class RelaySockets {
  ns?: Namespace;

  attach(ns: Namespace): void {
    this.ns = ns;
    batchWebSocketWrites();
  }

  /** To a room or a socket id, on whichever instance it is. */
  to(target: string | string[]) {
    return this.ns!.to(target);
  }

  /** To a room, on this instance only (each instance tells its own sockets). */
  local(room: string) {
    return this.ns!.local.to(room);
  }

  /** Whether a room has sockets on this instance. */
  hasLocalMembers(room: string): boolean {
    return (this.ns?.adapter.rooms.get(room)?.size ?? 0) > 0;
  }

  /** One video frame to these sockets of this instance, framed once; how many were busy (queued). */
  fanOutFrame(ids: readonly string[], event: string, meta: object, bytes: Buffer): number {
    return fanOutFrame(this.ns!, ids, event, meta, bytes);
  }

  /** Bytes written to a socket of this instance and not yet flushed to the network (0 for one that is gone). */
  backlog(id: string): number {
    const s = this.ns?.sockets.get(id);
    return s ? backlogBytes(s) : 0;
  }

  /** A socket connected to this instance. */
  socket(id: string): Socket | undefined {
    return this.ns?.sockets.get(id);
  }

  /** The sockets connected to this instance. */
  localSockets(): Socket[] {
    return [...(this.ns?.sockets.values() ?? [])];
  }
}

/** What a relay socket keeps in `socket.data`: plain data only, so other instances can read it (fetchSockets). */
export interface SocketData {
  principal: SocketPrincipal;
  connectionId?: string;
  /** When it connected (ISO), for presence. */
  since?: string;
  /** A vehicle's video capabilities, when its handshake said them. */
  caps?: VideoCaps;
  /** Why the server is about to close it (the first reason given wins). */
  closeReason?: string;
}

export function principalOf(socket: { data: unknown }): SocketPrincipal | undefined {
  return (socket.data as Partial<SocketData> | undefined)?.principal;
}

export function userOf(socket: { data: unknown }): UserPrincipal {
  return principalOf(socket) as UserPrincipal;
}

export function vehicleOf(socket: { data: unknown }): VehiclePrincipal {
  return principalOf(socket) as VehiclePrincipal;
}
