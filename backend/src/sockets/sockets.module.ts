import { Global, Module } from '@nestjs/common';
import { RelaySockets } from './relay-sockets.js';
import { SocketCaps } from './socket-caps.js';

/** The relay namespace's sockets and rooms, for every feature that talks to clients (relay, connections, calls). */
@Global()
@Module({ providers: [RelaySockets, SocketCaps], exports: [RelaySockets, SocketCaps] })
export class SocketsModule {}
