import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sqlite3 from 'sqlite3';
import type { DataSource, QueryRunner, ReplicationMode } from 'typeorm';
import { AbstractSqliteDriver } from 'typeorm/driver/sqlite-abstract/AbstractSqliteDriver.js';
import { AbstractSqliteQueryRunner } from 'typeorm/driver/sqlite-abstract/AbstractSqliteQueryRunner.js';
import { QueryFailedError } from 'typeorm/error/QueryFailedError.js';
import { QueryRunnerAlreadyReleasedError } from 'typeorm/error/QueryRunnerAlreadyReleasedError.js';
import { TransactionNotStartedError } from 'typeorm/error/TransactionNotStartedError.js';
import { TypeORMError } from 'typeorm/error/TypeORMError.js';
import { QueryResult } from 'typeorm/query-runner/QueryResult.js';
import { Broadcaster } from 'typeorm/subscriber/Broadcaster.js';

/** A FIFO mutex: the writer connection belongs to one holder at a time, the others wait their turn. */
export class WriterLock {
  private tail: Promise<void> = Promise.resolve();

  /** Resolves with the release function once every earlier holder has released. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.tail;
    this.tail = before.then(() => mine);
    return before.then(() => once(release));
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (!done) {
      done = true;
      fn();
    }
  };
}

/**
 * Marks the async context of a unit of work started by DatabaseService.transaction, so a statement issued in it
 * through another runner (a repository instead of the transaction's manager) fails at once instead of waiting
 * forever for the lock its own transaction holds.
 */
export const unitOfWork = new AsyncLocalStorage<{ runner?: QueryRunner }>();

/**
 * TypeORM 1.x ships only a synchronous better-sqlite3 driver; this is the asynchronous `sqlite3` one, built on
 * TypeORM's own abstract SQLite driver so every SQLite-family code path (schema builder, query builder) applies.
 * It never blocks the event loop, which matters for a server relaying live video and controls.
 *
 * Isolation by construction: there is one writer connection, and a query runner owns it for the whole of its
 * transaction (BEGIN IMMEDIATE … COMMIT/ROLLBACK) — every other statement that writes waits for the lock, so no
 * statement can land inside another request's transaction and be rolled back with it. Plain SELECTs outside a
 * transaction run on a separate read-only connection, which under WAL sees the last committed state.
 */
export class Sqlite3Driver extends AbstractSqliteDriver {
  declare databaseConnection: sqlite3.Database;
  /** Reads outside transactions; null for an in-memory database, whose reads share the writer. */
  readerConnection: sqlite3.Database | null = null;
  readonly writerLock = new WriterLock();

  constructor(dataSource: DataSource, private readonly busyTimeoutMs: number) {
    super(dataSource);
    this.database = (this.options as unknown as { database: string }).database;
    this.sqlite = sqlite3;
  }

  override async disconnect(): Promise<void> {
    this.queryRunner = undefined;
    const close = (db: sqlite3.Database) => new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
    // The lock is taken so that a transaction in flight finishes before the file is closed.
    const release = await this.writerLock.acquire();
    try {
      if (this.readerConnection) await close(this.readerConnection);
      this.readerConnection = null;
      await close(this.databaseConnection);
    } finally {
      release();
    }
  }

  override createQueryRunner(_mode: ReplicationMode): QueryRunner {
    return new Sqlite3QueryRunner(this);
  }

  protected override async createDatabaseConnection(): Promise<sqlite3.Database> {
    const file = (this.options as unknown as { database: string }).database;
    if (file !== ':memory:') await mkdir(dirname(file), { recursive: true });
    const db = await this.open(file);
    // Foreign keys make ON DELETE CASCADE work; WAL lets the reader run beside the single writer. FULL makes a
    // commit durable before it is acknowledged (NORMAL may lose the last commits on power loss).
    await exec(db, 'PRAGMA foreign_keys = ON');
    if (file !== ':memory:') {
      await exec(db, 'PRAGMA journal_mode = WAL');
      await exec(db, 'PRAGMA synchronous = FULL');
      const reader = await this.open(file);
      await exec(reader, 'PRAGMA query_only = ON');
      this.readerConnection = reader;
    } else await exec(db, 'PRAGMA synchronous = FULL');
    return db;
  }

  private async open(file: string): Promise<sqlite3.Database> {
    const db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const handle = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(handle)));
    });
    db.configure('busyTimeout', this.busyTimeoutMs);
    return db;
  }
}

const exec = (db: sqlite3.Database, sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));

const WRITE_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'REPLACE']);
const READ_ONLY = /^\s*SELECT\b/i;
const TRANSACTION_STATEMENT = /^\s*(BEGIN|COMMIT|END|ROLLBACK)\b/i;

class Sqlite3QueryRunner extends AbstractSqliteQueryRunner {
  declare driver: Sqlite3Driver;
  /** Set while this runner owns the writer connection (from BEGIN to COMMIT/ROLLBACK). */
  private releaseLock: (() => void) | null = null;
  /** Set while this runner sends its own transaction statements. */
  private internal = false;

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

  override async startTransaction(): Promise<void> {
    if (this.isTransactionActive && this.transactionDepth > 0) {
      await this.query(`SAVEPOINT typeorm_${this.transactionDepth}`);
      this.transactionDepth += 1;
      return;
    }
    this.assertNotInsideOtherUnit();
    this.releaseLock = await this.driver.writerLock.acquire();
    const unit = unitOfWork.getStore();
    if (unit && !unit.runner) unit.runner = this;
    this.isTransactionActive = true;
    try {
      await this.broadcaster.broadcast('BeforeTransactionStart');
      // IMMEDIATE takes SQLite's write lock now, so another process (the CLI) cannot make the commit fail later.
      await this.own('BEGIN IMMEDIATE');
    } catch (err) {
      this.isTransactionActive = false;
      this.unlock();
      throw err;
    }
    this.transactionDepth = 1;
    await this.broadcaster.broadcast('AfterTransactionStart');
  }

  override async commitTransaction(): Promise<void> {
    if (!this.isTransactionActive) throw new TransactionNotStartedError();
    await this.broadcaster.broadcast('BeforeTransactionCommit');
    if (this.transactionDepth > 1) {
      await this.query(`RELEASE SAVEPOINT typeorm_${this.transactionDepth - 1}`);
      this.transactionDepth -= 1;
    } else {
      // A failed COMMIT leaves the transaction open: the caller rolls back, which releases the lock.
      await this.own('COMMIT');
      this.transactionDepth = 0;
      this.isTransactionActive = false;
      this.unlock();
    }
    await this.broadcaster.broadcast('AfterTransactionCommit');
  }

  override async rollbackTransaction(): Promise<void> {
    if (!this.isTransactionActive) throw new TransactionNotStartedError();
    await this.broadcaster.broadcast('BeforeTransactionRollback');
    if (this.transactionDepth > 1) {
      await this.query(`ROLLBACK TO SAVEPOINT typeorm_${this.transactionDepth - 1}`);
      this.transactionDepth -= 1;
    } else {
      try {
        await this.own('ROLLBACK');
      } finally {
        this.transactionDepth = 0;
        this.isTransactionActive = false;
        this.unlock();
      }
    }
    await this.broadcaster.broadcast('AfterTransactionRollback');
  }

  override async release(): Promise<void> {
    // A runner given back mid-transaction must not keep the writer: what it did is undone.
    if (this.releaseLock) {
      await this.run(this.driver.databaseConnection, 'ROLLBACK', [], false).catch(() => undefined);
      this.transactionDepth = 0;
      this.isTransactionActive = false;
      this.unlock();
    }
    this.isReleased = true;
    await super.release();
  }

  override async query(query: string, parameters: unknown[] = [], useStructuredResult = false): Promise<any> {
    if (this.isReleased) throw new QueryRunnerAlreadyReleasedError();
    // Transaction statements sent as plain SQL take the same path as startTransaction & co., so a raw BEGIN also
    // owns the writer until its COMMIT or ROLLBACK.
    if (!this.internal) {
      const tx = TRANSACTION_STATEMENT.exec(query)?.[1]?.toUpperCase();
      if (tx === 'BEGIN' && !this.releaseLock) return void (await this.startTransaction());
      if ((tx === 'COMMIT' || tx === 'END') && this.releaseLock && this.transactionDepth === 1) return void (await this.commitTransaction());
      if (tx === 'ROLLBACK' && this.releaseLock && this.transactionDepth === 1 && !/\bTO\b/i.test(query)) return void (await this.rollbackTransaction());
    }
    const logger = this.driver.dataSource.logger;
    logger.logQuery(query, parameters, this);
    try {
      let result: QueryResult;
      if (this.releaseLock) result = await this.run(this.driver.databaseConnection, query, parameters, true);
      else if (READ_ONLY.test(query) && this.driver.readerConnection) result = await this.run(this.driver.readerConnection, query, parameters, true);
      else {
        // One statement in autocommit mode: it owns the writer for its own duration only.
        this.assertNotInsideOtherUnit();
        const release = await this.driver.writerLock.acquire();
        try {
          result = await this.run(this.driver.databaseConnection, query, parameters, true);
        } finally {
          release();
        }
      }
      return useStructuredResult ? result : result.raw;
    } catch (err) {
      if (err instanceof TypeORMError && !(err instanceof QueryFailedError)) throw err;
      logger.logQueryError(err as Error, query, parameters, this);
      throw err instanceof QueryFailedError ? err : new QueryFailedError(query, parameters, err as Error);
    }
  }

  private async own(sql: string): Promise<void> {
    this.internal = true;
    try {
      await this.query(sql);
    } finally {
      this.internal = false;
    }
  }

  private unlock(): void {
    const release = this.releaseLock;
    this.releaseLock = null;
    release?.();
  }

  /** A write through another runner inside a unit of work would wait for the lock that unit holds: fail loudly. */
  private assertNotInsideOtherUnit(): void {
    const owner = unitOfWork.getStore()?.runner as Sqlite3QueryRunner | undefined;
    if (owner && owner !== this && owner.releaseLock) {
      throw new TypeORMError('a statement inside a transaction must use the transaction’s EntityManager (it would wait for its own lock)');
    }
  }

  private run(db: sqlite3.Database, query: string, parameters: unknown[], check: boolean): Promise<QueryResult> {
    const command = query.trimStart().slice(0, 7).toUpperCase().split(/\s/)[0];
    const writes = WRITE_COMMANDS.has(command) && !/\bRETURNING\b/i.test(query);
    const result = new QueryResult();
    if (writes || !check) {
      return new Promise((resolve, reject) =>
        db.run(query, parameters, function (this: sqlite3.RunResult, err) {
          if (err) return reject(err);
          result.affected = this.changes;
          result.raw = command === 'INSERT' ? this.lastID : this.changes;
          resolve(result);
        }),
      );
    }
    return new Promise((resolve, reject) =>
      db.all(query, parameters, (err, rows) => {
        if (err) return reject(err);
        result.raw = rows;
        result.records = rows;
        if (WRITE_COMMANDS.has(command)) result.affected = rows.length;
        resolve(result);
      }),
    );
  }
}
