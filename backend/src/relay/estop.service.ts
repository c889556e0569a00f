import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { ClusterService } from '../cluster/cluster.service.js';
import { DatabaseService } from '../database/database.service.js';
import { EstopLatch } from './estop-latch.entity.js';

/** How often every instance reads the latches back from the database, to heal a change whose bus message was lost. */
export const ESTOP_RECONCILE_MS = 2000;

interface Latch {
  latched: boolean;
  /** The database's generation as last heard. */
  gen: number;
  /** Latched here while the database could not be written: the write is retried until it lands. */
  pendingBy?: string;
}

/**
 * A change of a latch: `gen` is null for a latch the database has not stored yet; `toggled` is false when only the
 * generation became known (the latch was already heard of).
 */
export type EstopListener = (vehicleId: string, latched: boolean, gen: number | null, by: string, toggled: boolean) => void;

/** Clearing needs the database: without it the latch stays. */
export class EstopUnavailableError extends Error {}

/**
 * E-stop latches, durable: the database holds them, every instance keeps a copy that the bus updates at once and a
 * reconcile loop heals within ESTOP_RECONCILE_MS, and only an explicit clear ends one. Latching never waits for, nor
 * fails with, the database or Redis: the vehicle stops first, and the write is retried until it lands. A change
 * carries the row's generation, so that a clear that arrives late cannot undo a newer latch.
 */
@Injectable()
export class EstopService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('relay');
  private readonly latches = new Map<string, Latch>();
  private readonly listeners: EstopListener[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    @InjectRepository(EstopLatch) private readonly rows: Repository<EstopLatch>,
    private readonly db: DatabaseService,
    private readonly cluster: ClusterService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.cluster.handle('estop', (m) => this.apply(m.vehicleId as string, m.latched as boolean, m.gen as number | null, m.by as string));
    await this.reconcile();
    await this.importFromRedis();
    this.timer = setInterval(() => void this.reconcile(), ESTOP_RECONCILE_MS);
    this.timer.unref();
    // Back from a Redis outage: bus messages may have been lost meanwhile.
    this.cluster.on('availability', (up) => up && void this.reconcile());
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  onChange(listener: EstopListener): void {
    this.listeners.push(listener);
  }

  isLatched(vehicleId: string): boolean {
    return this.latches.get(vehicleId)?.latched ?? false;
  }

  /** The generation of a latch as the vehicle is told it (null while the database has not stored it). */
  generation(vehicleId: string): number | null {
    const l = this.latches.get(vehicleId);
    return !l || l.pendingBy !== undefined ? null : l.gen;
  }

  /** Latches at once here and on every instance; the database write follows, and is retried until it lands. */
  async latch(vehicleId: string, by: string): Promise<void> {
    const l = this.latch$(vehicleId);
    l.pendingBy = by;
    this.apply(vehicleId, true, null, by);
    this.cluster.broadcast({ t: 'estop', vehicleId, latched: true, gen: null, by });
    await this.store(vehicleId);
  }

  /** Ends the latch; refused (EstopUnavailableError) when the database cannot be written. */
  async clear(vehicleId: string, by: string): Promise<void> {
    if (this.latches.get(vehicleId)?.pendingBy !== undefined && !(await this.store(vehicleId))) throw new EstopUnavailableError('the database is unreachable: the e-stop stays latched');
    let gen: number;
    try {
      gen = await this.db.transaction(async (m) => {
        const row = await m.findOneBy(EstopLatch, { vehicleId });
        if (!row) return 0;
        if (!row.latched) return row.generation;
        await m.update(EstopLatch, { vehicleId, generation: row.generation }, { latched: false, generation: row.generation + 1, changedAt: new Date(), changedBy: by });
        return row.generation + 1;
      });
    } catch (err) {
      this.logger.warn({ err }, 'cannot clear an e-stop latch');
      throw new EstopUnavailableError('the database is unreachable: the e-stop stays latched');
    }
    this.apply(vehicleId, false, gen, by);
    this.cluster.broadcast({ t: 'estop', vehicleId, latched: false, gen, by });
  }

  /** A deleted vehicle. */
  async forget(vehicleId: string): Promise<void> {
    this.latches.delete(vehicleId);
    await this.rows.delete({ vehicleId }).catch(() => undefined);
  }

  /** Writes a latch made here; true once the database has it. */
  private async store(vehicleId: string): Promise<boolean> {
    const l = this.latches.get(vehicleId);
    const by = l?.pendingBy;
    if (!l || by === undefined) return true;
    try {
      const gen = await this.db.transaction(async (m) => {
        await m.createQueryBuilder().insert().into(EstopLatch).values({ vehicleId, latched: false, generation: 0, changedAt: new Date(), changedBy: by }).orIgnore().execute();
        const row = await m.findOneByOrFail(EstopLatch, { vehicleId });
        await m.update(EstopLatch, { vehicleId }, { latched: true, generation: row.generation + 1, changedAt: new Date(), changedBy: by });
        return row.generation + 1;
      });
      if (l.pendingBy === by) l.pendingBy = undefined;
      this.apply(vehicleId, true, gen, by);
      this.cluster.broadcast({ t: 'estop', vehicleId, latched: true, gen, by });
      return true;
    } catch (err) {
      this.logger.error({ err }, `cannot store the e-stop latch of ${vehicleId}; it holds here and is retried`);
      return false;
    }
  }

  /** A change heard (or made here): a latch always applies; a clear only when it is newer than what is known. */
  private apply(vehicleId: string, latched: boolean, gen: number | null, by: string): void {
    const l = this.latch$(vehicleId);
    if (!latched && (gen === null || gen <= l.gen || l.pendingBy !== undefined)) return;
    const toggled = l.latched !== latched;
    const changed = toggled || (gen !== null && gen > l.gen && latched);
    l.latched = latched;
    if (gen !== null && gen > l.gen) l.gen = gen;
    if (!changed) return;
    for (const fn of this.listeners) {
      try {
        fn(vehicleId, latched, gen, by, toggled);
      } catch (err) {
        this.logger.error({ err }, 'e-stop listener failed');
      }
    }
  }

  /** Reads every latch back (and retries the writes that failed): what the database says, every instance ends up with. */
  private async reconcile(): Promise<void> {
    for (const [vehicleId, l] of this.latches) if (l.pendingBy !== undefined) await this.store(vehicleId);
    let rows: EstopLatch[];
    try {
      rows = await this.rows.find();
    } catch {
      return;
    }
    for (const row of rows) {
      const l = this.latches.get(row.vehicleId);
      if (!l || row.generation > l.gen) this.apply(row.vehicleId, row.latched, row.generation, row.changedBy);
    }
  }

  /** Latches kept in Redis by an earlier version move to the database once. */
  private async importFromRedis(): Promise<void> {
    const r = this.cluster.redis;
    if (!r || !this.cluster.available) return;
    try {
      // SCAN, not KEYS: this runs at every start, and KEYS would stall a large shared Redis.
      const keys: string[] = [];
      for await (const batch of r.scanStream({ match: this.cluster.key('estop', '*'), count: 500 })) keys.push(...(batch as string[]));
      for (const key of keys) {
        const vehicleId = key.slice(this.cluster.key('estop').length + 1);
        await this.latch(vehicleId, 'latched before the upgrade');
        if (this.latches.get(vehicleId)?.pendingBy === undefined) await r.del(key);
      }
    } catch (err) {
      this.logger.warn({ err }, 'cannot read e-stop latches left in Redis');
    }
  }

  private latch$(vehicleId: string): Latch {
    let l = this.latches.get(vehicleId);
    if (!l) this.latches.set(vehicleId, (l = { latched: false, gen: 0 }));
    return l;
  }
}
