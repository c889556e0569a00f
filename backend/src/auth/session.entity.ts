import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** One sign-in: the family of refresh tokens that rotate from it. Revoking it ends them all. */
@Entity('sessions')
export class Session {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Index()
  @Column('varchar', { length: 36 })
  userId: string;

  @Column('varchar', { length: 512, nullable: true })
  userAgent: string | null;

  @Column('varchar', { length: 64, nullable: true })
  ip: string | null;

  @CreateDateColumn()
  createdAt: Date;

  @Column({ type: Date })
  lastUsedAt: Date;

  @Column({ type: Date })
  expiresAt: Date;

  @Column({ type: Date, nullable: true })
  revokedAt: Date | null;

  @Column('varchar', { length: 32, nullable: true })
  revokedReason: string | null;
}

/** A refresh token of a session, kept only as its SHA-256. A rotated one presented again reveals theft. */
@Entity('refresh_tokens')
export class RefreshToken {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Index()
  @Column('varchar', { length: 36 })
  sessionId: string;

  @Column('varchar', { length: 64, unique: true })
  tokenHash: string;

  @CreateDateColumn()
  createdAt: Date;

  @Column({ type: Date, nullable: true })
  rotatedAt: Date | null;
}
