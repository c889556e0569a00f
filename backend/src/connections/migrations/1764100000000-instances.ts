import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/** Connection rows name the instance that holds their socket, so a restart closes only its own. */
export class ConnectionInstances1764100000000 implements MigrationInterface {
  name = 'ConnectionInstances1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn('connections', new TableColumn({ name: 'instanceId', type: 'varchar', length: '64', isNullable: true }));
    await q.createIndex('connections', new TableIndex({ name: 'IDX_connections_instanceId', columnNames: ['instanceId'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('connections', 'IDX_connections_instanceId');
    await q.dropColumn('connections', 'instanceId');
  }
}
