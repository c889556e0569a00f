import { Injectable } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import type { AuthOutcome } from '../protocol/index.js';

export interface AuthEventRecord {
  at: Date;
  email: string | null;
  userId: string | null;
  ip: string | null;
  userAgent: string | null;
  outcome: AuthOutcome;
}

interface Events {
  /** A sign-in, refresh failure or sign-out happened (the connections log records it). */
  auth: [AuthEventRecord];
  /** Sessions ended server-side: their live sockets must close. `sessionIds` absent means every session of the user. */
  revoked: [{ userId: string; sessionIds?: string[]; reason: string }];
}

/** In-process notifications from the auth service to the modules that react to them. */
@Injectable()
export class AuthEvents extends EventEmitter<Events> {}
