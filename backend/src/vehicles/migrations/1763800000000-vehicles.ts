import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columns } from '../../database/column-types.js';

export class Vehicles1763800000000 implements MigrationInterface {
  name = 'Vehicles1763800000000';

  async up(q: QueryRunner): Promise<void> {
    const c = columns(q);
    await q.createTable(
      new Table({
        name: 'vehicles',
        columns: [c.id(), c.text('name', 64), c.text('tokenHash', 64), c.created(), c.date('lastSeenAt', true)],
        uniques: [
          { name: 'UQ_vehicles_name', columnNames: ['name'] },
          { name: 'UQ_vehicles_token', columnNames: ['tokenHash'] },
        ],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('vehicles');
  }
}
