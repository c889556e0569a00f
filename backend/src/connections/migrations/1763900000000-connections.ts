import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';
import { columns } from '../../database/column-types.js';

export class Connections1763900000000 implements MigrationInterface {
  name = 'Connections1763900000000';

  async up(q: QueryRunner): Promise<void> {
    const c = columns(q);
    await q.createTable(
      new Table({
        name: 'connections',
        columns: [
          c.id(),
          c.text('kind', 16),
          c.ref('userId', true),
          c.ref('vehicleId', true),
          c.text('name', 254),
          c.text('ip', 64, true),
          c.int('port', true),
          c.text('userAgent', 512, true),
          c.date('connectedAt'),
          c.date('disconnectedAt', true),
          c.text('disconnectReason', 32, true),
          c.int('messagesIn', false, 0),
          c.int('messagesOut', false, 0),
          c.big('bytesIn'),
          c.big('bytesOut'),
        ],
        indices: [
          { name: 'IDX_connections_connectedAt', columnNames: ['connectedAt'] },
          { name: 'IDX_connections_open', columnNames: ['disconnectedAt'] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'auth_events',
        columns: [c.id(), c.date('at'), c.text('email', 254, true), c.ref('userId', true), c.text('ip', 64, true), c.text('userAgent', 512, true), c.text('outcome', 32)],
        indices: [{ name: 'IDX_auth_events_at', columnNames: ['at'] }],
      }),
    );
    await q.createTable(new Table({ name: 'settings', columns: [{ name: 'key', type: 'varchar', length: '64', isPrimary: true }, { name: 'value', type: 'text' }] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('settings');
    await q.dropTable('auth_events');
    await q.dropTable('connections');
  }
}
