import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sqlite3 from 'sqlite3';
import type { DataSource, QueryRunner, ReplicationMode } from 'typeorm';
import { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver.js';
import { AbstractSqliteQueryRunner } from 'typeorm/driver/sqlite-abstract/AbstractSqliteQueryRunner.js';
import { QueryFailedError } from 'typeorm/error/QueryFailedError.js';
import { QueryRunnerAlreadyReleasedError } from 'typeorm/error/QueryRunnerAlreadyReleasedError.js';
import { QueryResult } from 'typeorm/query-runner/QueryResult.js';
import { Broadcaster } from 'typeorm/subscriber/Broadcaster.js';

/**
 * TypeORM 1.x ships only a synchronous better-sqlite3 driver; this is the asynchronous `sqlite3` one, built on
 * TypeORM's own abstract SQLite driver so every SQLite-family code path (schema builder, query builder) applies.
 * It never blocks the event loop, which matters for a server relaying live video and controls.
 */
export class Sqlite3Driver extends AbstractSqliteDriver {
  declare databaseConnection: sqlite3.Database;

  constructor(dataSource: DataSource, private readonly busyTimeoutMs: number) {
    super(dataSource);
    this.database = (this.options as unknown as { database: string }).database;
    this.sqlite = sqlite3;
  }

  override async disconnect(): Promise<void> {
    this.queryRunner = undefined;
    const db = this.databaseConnection;
    await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
  }

  override createQueryRunner(_mode: ReplicationMode): QueryRunner {
    this.queryRunner ??= new Sqlite3QueryRunner(this);
    return this.queryRunner;
  }

  protected override async createDatabaseConnection(): Promise<sqlite3.Database> {
    const file = (this.options as unknown as { database: string }).database;
    if (file !== ':memory:') await mkdir(dirname(file), { recursive: true });
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const handle = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(handle)));
    });
    db.configure('busyTimeout', this.busyTimeoutMs);
    const exec = (sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
    // Foreign keys make ON DELETE CASCADE work; WAL lets readers run beside the single writer.
    await exec('PRAGMA foreign_keys = ON');
    if (file !== ':memory:') await exec('PRAGMA journal_mode = WAL');
    await exec('PRAGMA synchronous = NORMAL');
    return db;
  }
}

const WRITE_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'REPLACE']);

class Sqlite3QueryRunner extends AbstractSqliteQueryRunner {
  declare driver: Sqlite3Driver;

  constructor(driver: Sqlite3Driver) {
    super();
    this.driver = driver;
    this.dataSource = driver.dataSource;
    this.broadcaster = new Broadcaster(this);
  }

  override async beforeMigration(): Promise<void> {
    await this.query('PRAGMA foreign_keys = OFF');
  }

  override async afterMigration(): Promise<void> {
    await this.query('PRAGMA foreign_keys = ON');
  }

  override async query(query: string, parameters: unknown[] = [], useStructuredResult = false): Promise<any> {
    if (this.isReleased) throw new QueryRunnerAlreadyReleasedError();
    const db = (await this.connect()) as sqlite3.Database;
    const logger = this.driver.dataSource.logger;
    logger.logQuery(query, parameters, this);
    const command = query.trimStart().slice(0, 7).toUpperCase().split(/\s/)[0];
    const writes = WRITE_COMMANDS.has(command) && !/\bRETURNING\b/i.test(query);
    try {
      const result = new QueryResult();
      if (writes) {
        const { lastID, changes } = await new Promise<{ lastID: number; changes: number }>((resolve, reject) =>
          db.run(query, parameters, function (this: sqlite3.RunResult, err) {
            if (err) reject(err);
            else resolve({ lastID: this.lastID, changes: this.changes });
          }),
        );
        result.affected = changes;
        result.raw = command === 'INSERT' ? lastID : changes;
      } else {
        const rows = await new Promise<unknown[]>((resolve, reject) => db.all(query, parameters, (err, r) => (err ? reject(err) : resolve(r))));
        result.raw = rows;
        result.records = rows;
        if (WRITE_COMMANDS.has(command)) result.affected = rows.length;
      }
      return useStructuredResult ? result : result.raw;
    } catch (err) {
      logger.logQueryError(err as Error, query, parameters, this);
      throw new QueryFailedError(query, parameters, err as Error);
    }
  }
}
