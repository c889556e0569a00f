import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A vehicle's e-stop latch, the source of truth for every instance (Redis only carries the news). The row stays once
 * made: `generation` numbers every latch and clear, so that a late clear cannot undo a newer latch anywhere.
 */
@Entity('estop_latches')
export class EstopLatch {
  @PrimaryColumn('varchar', { length: 36 })
  vehicleId: string;

  @Column({ type: Boolean, default: false })
  latched: boolean;

  @Column('integer', { default: 0 })
  generation: number;

  @Column({ type: Date })
  changedAt: Date;

  /** Who latched or cleared it last (a user's name). */
  @Column('varchar', { length: 80 })
  changedBy: string;
}
