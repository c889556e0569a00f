import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columns } from '../../database/column-types.js';

export class ApiTokens1764200000000 implements MigrationInterface {
  name = 'ApiTokens1764200000000';

  async up(q: QueryRunner): Promise<void> {
    const c = columns(q);
    await q.createTable(
      new Table({
        name: 'api_tokens',
        columns: [c.id(), c.ref('userId'), c.text('name', 64), c.text('prefix', 16), c.text('tokenHash', 64), c.created(), c.date('expiresAt'), c.date('lastUsedAt', true), c.date('revokedAt', true)],
        indices: [
          { name: 'IDX_api_tokens_userId', columnNames: ['userId'] },
          { name: 'UQ_api_tokens_tokenHash', columnNames: ['tokenHash'], isUnique: true },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('api_tokens');
  }
}
