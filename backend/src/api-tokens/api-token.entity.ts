import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';

/** A personal API token, kept only as its SHA-256: the secret is shown once, when it is made. */
@Entity('api_tokens')
export class ApiToken {
  @PrimaryColumn('varchar', { length: 36 })
  id: string;

  @Index('IDX_api_tokens_userId')
  @Column('varchar', { length: 36 })
  userId: string;

  @Column('varchar', { length: 64 })
  name: string;

  @Column('varchar', { length: 16 })
  prefix: string;

  /** Its scopes (TOKEN_SCOPES), comma-separated. */
  @Column('varchar', { length: 200 })
  scopes: string;

  @Index('UQ_api_tokens_tokenHash', { unique: true })
  @Column('varchar', { length: 64 })
  tokenHash: string;

  @CreateDateColumn()
  createdAt: Date;

  @Column({ type: Date })
  expiresAt: Date;

  @Column({ type: Date, nullable: true })
  lastUsedAt: Date | null;

  @Column({ type: Date, nullable: true })
  revokedAt: Date | null;
}
