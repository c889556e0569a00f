import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryFailedError, type DataSource, type EntityManager } from 'typeorm';
import { unitOfWork } from './sqlite3.driver.js';

/** PostgreSQL's "try again" answers for a serializable transaction: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 6;

/**
 * Runs units of database work that must be atomic and isolated, on either backend.
 * - SQLite: the driver gives the transaction the one writer connection from BEGIN to COMMIT; nothing else writes
 *   meanwhile, so it is serializable by construction.
 * - PostgreSQL: SERIALIZABLE isolation, retried when the database reports a conflict, so check-then-write rules
 *   (the last admin, a unique name) hold under concurrency too.
 * `work` may run more than once on PostgreSQL: it must only touch the database through `manager`.
 */
@Injectable()
export class DatabaseService {
  private readonly logger = new Logger('database');

  constructor(@InjectDataSource() readonly dataSource: DataSource) {}

  get isSqlite(): boolean {
    return this.dataSource.options.type !== 'postgres';
  }

  async transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.isSqlite) return unitOfWork.run({}, () => this.dataSource.transaction(work));
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction('SERIALIZABLE', work);
      } catch (err) {
        const code = (err as QueryFailedError & { driverError?: { code?: string } }).driverError?.code;
        if (!(err instanceof QueryFailedError) || !code || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw err;
        this.logger.debug(`transaction conflict (${code}), attempt ${attempt}; retrying`);
        await sleep(Math.random() * 5 * attempt);
      }
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.dataSource.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }
}
