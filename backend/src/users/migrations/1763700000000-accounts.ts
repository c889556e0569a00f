import { Table, TableForeignKey, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columns } from '../../database/column-types.js';

export class Accounts1763700000000 implements MigrationInterface {
  name = 'Accounts1763700000000';

  async up(q: QueryRunner): Promise<void> {
    const c = columns(q);
    await q.createTable(
      new Table({
        name: 'users',
        columns: [c.id(), c.text('email', 254), c.text('name', 80), c.text('role', 16), c.text('passwordHash', 255), c.bool('disabled'), c.created(), c.created('updatedAt'), c.date('lastLoginAt', true)],
        uniques: [{ name: 'UQ_users_email', columnNames: ['email'] }],
      }),
    );
    await q.createTable(
      new Table({
        name: 'sessions',
        columns: [c.id(), c.ref('userId'), c.text('userAgent', 512, true), c.text('ip', 64, true), c.created(), c.date('lastUsedAt'), c.date('expiresAt'), c.date('revokedAt', true), c.text('revokedReason', 32, true)],
        indices: [{ name: 'IDX_sessions_userId', columnNames: ['userId'] }],
        foreignKeys: [new TableForeignKey({ columnNames: ['userId'], referencedTableName: 'users', referencedColumnNames: ['id'], onDelete: 'CASCADE' })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'refresh_tokens',
        columns: [c.id(), c.ref('sessionId'), c.text('tokenHash', 64), c.created(), c.date('rotatedAt', true)],
        uniques: [{ name: 'UQ_refresh_tokens_hash', columnNames: ['tokenHash'] }],
        indices: [{ name: 'IDX_refresh_tokens_session', columnNames: ['sessionId'] }],
        foreignKeys: [new TableForeignKey({ columnNames: ['sessionId'], referencedTableName: 'sessions', referencedColumnNames: ['id'], onDelete: 'CASCADE' })],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('refresh_tokens');
    await q.dropTable('sessions');
    await q.dropTable('users');
  }
}
