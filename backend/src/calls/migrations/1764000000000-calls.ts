import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columns } from '../../database/column-types.js';

export class Calls1764000000000 implements MigrationInterface {
  name = 'Calls1764000000000';

  async up(q: QueryRunner): Promise<void> {
    const c = columns(q);
    await q.createTable(
      new Table({
        name: 'calls',
        columns: [c.id(), c.ref('callerId'), c.text('callerName', 80), c.ref('calleeId'), c.text('calleeName', 80), c.date('startedAt'), c.date('answeredAt', true), c.date('endedAt', true), c.text('endReason', 32, true), c.int('durationSeconds', true)],
        indices: [{ name: 'IDX_calls_startedAt', columnNames: ['startedAt'] }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('calls');
  }
}
