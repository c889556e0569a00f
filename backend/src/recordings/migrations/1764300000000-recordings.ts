import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columns } from '../../database/column-types.js';

export class Recordings1764300000000 implements MigrationInterface {
  name = 'Recordings1764300000000';

  async up(q: QueryRunner): Promise<void> {
    const c = columns(q);
    await q.createTable(
      new Table({
        name: 'recordings',
        columns: [
          c.id(),
          c.ref('vehicleId'),
          c.text('vehicleName', 80),
          c.ref('driverId', true),
          c.ref('connectionId', true),
          c.text('driverName', 80),
          c.text('instanceId', 64),
          c.date('startedAt'),
          c.date('endedAt', true),
          c.big('bytes'),
          c.text('endReason', 32, true),
          c.bool('repaired'),
        ],
        indices: [
          { name: 'IDX_recordings_startedAt', columnNames: ['startedAt'] },
          { name: 'IDX_recordings_vehicleId', columnNames: ['vehicleId'] },
          { name: 'IDX_recordings_connectionId', columnNames: ['connectionId'] },
        ],
      }),
    );
    await q.createTable(new Table({ name: 'recording_vehicles', columns: [c.id('vehicleId'), c.date('enabledAt')] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('recording_vehicles');
    await q.dropTable('recordings');
  }
}
