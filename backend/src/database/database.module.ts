import { Global, Module } from '@nestjs/common';
import { TypeOrmModule, type TypeOrmModuleOptions } from '@nestjs/typeorm';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { DatabaseService } from './database.service.js';
import { ENTITIES, MIGRATIONS } from './schema.js';
import { Sqlite3Driver } from './sqlite3.driver.js';

const SQLITE_BUSY_TIMEOUT_MS = 5000;

export function dataSourceOptions(config: AppConfig): DataSourceOptions {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, migrationsRun: false, synchronize: false, logging: false } as const;
  if (config.database.type === 'postgres') return { ...common, type: 'postgres', url: config.database.url };
  // The better-sqlite3 type name selects TypeORM's SQLite dialect; the driver itself is swapped for sqlite3 below.
  return { ...common, type: 'better-sqlite3', database: config.database.path, driver: {} };
}

/** Opens the database and brings its schema up to date (migrations, never synchronize). */
export async function openDataSource(options: DataSourceOptions): Promise<DataSource> {
  const ds = new DataSource(options);
  if (options.type === 'better-sqlite3') (ds as { driver: unknown }).driver = new Sqlite3Driver(ds, SQLITE_BUSY_TIMEOUT_MS);
  await ds.initialize();
  await ds.runMigrations({ transaction: 'each' });
  return ds;
}

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [CONFIG],
      useFactory: (config: AppConfig) => dataSourceOptions(config) as TypeOrmModuleOptions,
      dataSourceFactory: (options) => openDataSource(options as DataSourceOptions),
    }),
  ],
  providers: [DatabaseService],
  exports: [DatabaseService],
})
export class DatabaseModule {}
