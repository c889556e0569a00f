import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columns } from '../../database/column-types.js';

/** E-stop latches move from Redis memory to the database (see EstopService for the one-time import). */
export class EstopLatches1764500000000 implements MigrationInterface {
  name = 'EstopLatches1764500000000';

  async up(q: QueryRunner): Promise<void> {
    const c = columns(q);
    await q.createTable(
      new Table({
        name: 'estop_latches',
        columns: [c.id('vehicleId'), c.bool('latched'), c.int('generation', false, 0), c.date('changedAt'), c.text('changedBy', 80)],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('estop_latches');
  }
}
