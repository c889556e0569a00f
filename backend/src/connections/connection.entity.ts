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

  /** The server instance that holds (or held) the socket: each instance closes only its own rows after a restart. */
  @Index('IDX_connections_instanceId')
  @Column('varchar', { length: 64, nullable: true })
  instanceId: string | null;

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
