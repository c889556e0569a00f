import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryFailedError, type DataSource, type EntityManager } from 'typeorm';
import { unitOfWork } from './sqlite3.driver.js';

/** PostgreSQL's "try again" answers for a serializable transaction: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);
/**
 * Conflicts come in clusters when the machine is busy (every transaction runs longer, so more of them overlap): the
 * pauses between attempts grow, with jitter, up to 200 ms: at most about 1 s in all before the request fails.
 */
export const MAX_ATTEMPTS = 10;
const backoffMs = (attempt: number) => Math.random() * Math.min(200, 4 * 2 ** attempt);
/** How long a client should wait before trying again after a `DatabaseBusyError`. */
export const BUSY_RETRY_AFTER_S = 1;

/**
 * A unit of work that kept conflicting with others through every attempt. It wrote nothing, so the caller may safely
 * try again: HTTP answers it with 503 and Retry-After.
 */
export class DatabaseBusyError extends Error {
  readonly retryAfterS = BUSY_RETRY_AFTER_S;

  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`the database stayed busy with conflicting changes through ${attempts} attempts`, { cause });
  }
}

/** The database cannot be reached (down, restarting, refusing connections): nothing was written; try again later. */
export class DatabaseUnavailableError extends Error {
  readonly retryAfterS = 5;
}

/** Socket errors and SQLSTATEs of a database that is away rather than of a bad query. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P02', '57P03', '53300', 'SQLITE_CANTOPEN', 'SQLITE_IOERR', 'SQLITE_FULL']);
const UNREACHABLE_MESSAGES = /Connection terminated|connection timeout|Client has encountered a connection error|Connection is not established|is not currently accepting connections/i;

/** Whether an error (or what it wraps) says the database is unreachable rather than that a query was wrong. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    if (UNREACHABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('SQLITE_IOERR')) return true;
    if (typeof e.message === 'string' && UNREACHABLE_MESSAGES.test(e.message)) return true;
    e = (e.driverError ?? e.cause) as typeof e;
  }
  return false;
}

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
        if (!(err instanceof QueryFailedError) || !code || !RETRYABLE.has(code)) throw err;
        if (attempt >= MAX_ATTEMPTS) {
          this.logger.warn(`transaction conflict (${code}) still there after ${attempt} attempts; giving up`);
          throw new DatabaseBusyError(attempt, err);
        }
        this.logger.debug(`transaction conflict (${code}), attempt ${attempt}; retrying`);
        await sleep(backoffMs(attempt));
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
