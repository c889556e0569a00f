import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

@Entity('vehicles')
export class Vehicle {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Column('varchar', { length: 64, unique: true })
  name: string;

  /** SHA-256 of the vehicle's token; the token itself is shown once. */
  @Column('varchar', { length: 64, unique: true })
  tokenHash: string;

  @CreateDateColumn()
  createdAt: Date;

  @Column({ type: Date, nullable: true })
  lastSeenAt: Date | null;
}
