import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

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
