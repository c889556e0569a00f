import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { AuthOutcome, ConnectionKind } from '../protocol/index.js';

@Entity('connections')
@Index('IDX_connections_connectedAt', ['connectedAt'])
export class Connection {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Column('varchar', { length: 16 })
  kind: ConnectionKind;

  @Column('varchar', { length: 36, nullable: true })
  userId: string | null;

  @Column('varchar', { length: 36, nullable: true })
  vehicleId: string | null;

  @Column('varchar', { length: 254 })
  name: string;

  @Column('varchar', { length: 64, nullable: true })
  ip: string | null;

  @Column('integer', { nullable: true })
  port: number | null;

  @Column('varchar', { length: 512, nullable: true })
  userAgent: string | null;

  @Column({ type: Date })
  connectedAt: Date;

  @Column({ type: Date, nullable: true })
  disconnectedAt: Date | null;

  @Column('varchar', { length: 32, nullable: true })
  disconnectReason: string | null;

  @Column('integer', { default: 0 })
  messagesIn: number;

  @Column('integer', { default: 0 })
  messagesOut: number;

  @Column({ type: 'double precision', default: 0, transformer: { to: (v: number) => v, from: (v: unknown) => Number(v) } })
  bytesIn: number;

  @Column({ type: 'double precision', default: 0, transformer: { to: (v: number) => v, from: (v: unknown) => Number(v) } })
  bytesOut: number;
}

@Entity('auth_events')
@Index('IDX_auth_events_at', ['at'])
export class AuthEvent {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Column({ type: Date })
  at: Date;

  @Column('varchar', { length: 254, nullable: true })
  email: string | null;

  @Column('varchar', { length: 36, nullable: true })
  userId: string | null;

  @Column('varchar', { length: 64, nullable: true })
  ip: string | null;

  @Column('varchar', { length: 512, nullable: true })
  userAgent: string | null;

  @Column('varchar', { length: 32 })
  outcome: AuthOutcome;
}

/** Small persisted server settings (maintenance mode), one JSON value per key. */
@Entity('settings')
export class Setting {
  @PrimaryColumn('varchar', { length: 64 })
  key: string;

  @Column('text')
  value: string;
}

/** A face-chat call: who called whom, when it rang, was answered and ended, and why. */
@Entity('calls')
@Index('IDX_calls_startedAt', ['startedAt'])
export class CallRecord {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Column('varchar', { length: 36 })
  callerId: string;

  @Column('varchar', { length: 80 })
  callerName: string;

  @Column('varchar', { length: 36 })
  calleeId: string;

  @Column('varchar', { length: 80 })
  calleeName: string;

  @Column({ type: Date })
  startedAt: Date;

  @Column({ type: Date, nullable: true })
  answeredAt: Date | null;

  @Column({ type: Date, nullable: true })
  endedAt: Date | null;

  @Column('varchar', { length: 32, nullable: true })
  endReason: string | null;

  @Column('integer', { nullable: true })
  durationSeconds: number | null;
}
