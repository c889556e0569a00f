import { Global, Module } from '@nestjs/common';
import { RelaySockets } from './relay-sockets.js';

/** The relay namespace's sockets and rooms, for every feature that talks to clients (relay, connections, calls). */
@Global()
@Module({ providers: [RelaySockets], exports: [RelaySockets] })
export class SocketsModule {}
