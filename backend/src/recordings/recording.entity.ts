import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { RecordingEndReason, RecordingView } from '../protocol/index.js';

/** One drive's MCAP file: who drove what, when, how it ended, how big it is. The file is `<id>.mcap`. */
@Entity('recordings')
@Index('IDX_recordings_startedAt', ['startedAt'])
export class Recording {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Index('IDX_recordings_vehicleId')
  @Column('varchar', { length: 36 })
  vehicleId: string;

  @Column('varchar', { length: 80 })
  vehicleName: string;

  @Column('varchar', { length: 36, nullable: true })
  driverId: string | null;

  @Column('varchar', { length: 80 })
  driverName: string;

  /** The driver's session (a row of the connection log), so that a session links to what it drove. */
  @Index('IDX_recordings_connectionId')
  @Column('varchar', { length: 36, nullable: true })
  connectionId: string | null;

  /** The instance writing it: a restart repairs only its own unfinished files. */
  @Column('varchar', { length: 64 })
  instanceId: string;

  @Column({ type: Date })
  startedAt: Date;

  @Column({ type: Date, nullable: true })
  endedAt: Date | null;

  @Column({ type: 'double precision', default: 0, transformer: { to: (v: number) => v, from: (v: unknown) => Number(v) } })
  bytes: number;

  @Column('varchar', { length: 32, nullable: true })
  endReason: RecordingEndReason | null;

  @Column('boolean', { default: false })
  repaired: boolean;
}

/** Vehicles an admin turned recording on for (RECORD_DRIVES=1 records every vehicle). */
@Entity('recording_vehicles')
export class RecordingVehicle {
  @PrimaryColumn('varchar', { length: 36 })
  vehicleId: string;

  @Column({ type: Date })
  enabledAt: Date;
}

export function toRecordingView(r: Recording): RecordingView {
  return {
    id: r.id,
    vehicleId: r.vehicleId,
    vehicleName: r.vehicleName,
    driverId: r.driverId,
    driverName: r.driverName,
    connectionId: r.connectionId ?? null,
    startedAt: r.startedAt.toISOString(),
    endedAt: r.endedAt ? r.endedAt.toISOString() : null,
    durationMs: r.endedAt ? r.endedAt.getTime() - r.startedAt.getTime() : null,
    bytes: Math.round(r.bytes),
    endReason: r.endReason,
    repaired: !!r.repaired,
  };
}
