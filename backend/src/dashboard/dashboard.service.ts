import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { ClusterService } from '../cluster/cluster.service.js';
import { AuthEvent, Connection } from '../connections/connection.entity.js';
import { DatabaseService } from '../database/database.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { DASHBOARD_EVENTS, DASHBOARD_LIMITS, type DashboardHourly, type DashboardSample, type DashboardWatchAck } from '../protocol/index.js';
import { RelaySockets } from '../sockets/relay-sockets.js';

export const DASHBOARD_ROOM = 'dashboard';
const HOUR_MS = 3_600_000;
const FAILED_LOGINS = ['bad-credentials', 'throttled', 'disabled'] as const;

/** One instance's share of a sample: counts now and what happened since its previous share. */
export interface DashboardPart {
  vehicles: number;
  drivers: number;
  viewers: number;
  frames: number;
  controls: number;
  dropped: number;
  seconds: number;
  rtts: number[];
}

/** Sums the instances' shares into one sample; percentiles over every instance's round trips together. */
export function combine(at: number, parts: DashboardPart[]): DashboardSample {
  const sum = (k: 'vehicles' | 'drivers' | 'viewers' | 'frames' | 'controls' | 'dropped') => parts.reduce((s, p) => s + p[k], 0);
  const rate = (k: 'frames' | 'controls' | 'dropped') => round(parts.reduce((s, p) => s + (p.seconds > 0 ? p[k] / p.seconds : 0), 0), 1);
  const rtts = parts.flatMap((p) => p.rtts).sort((a, b) => a - b);
  return {
    at,
    vehiclesOnline: sum('vehicles'),
    drivers: sum('drivers'),
    viewers: sum('viewers'),
    framesPerSec: rate('frames'),
    controlsPerSec: rate('controls'),
    droppedPerSec: rate('dropped'),
    rttP50Ms: rtts.length ? round(quantile(rtts, 0.5), 2) : null,
    rttP99Ms: rtts.length ? round(quantile(rtts, 0.99), 2) : null,
    instances: parts.length,
  };
}

/** The q-quantile of sorted values, interpolated between the nearest ranks. */
export function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/**
 * The operations dashboard. Every instance takes its share every 2 s (counter deltas, gauges, round trips) and
 * broadcasts it on the cluster bus; every instance sums the latest share of each live instance and sends the sample
 * to its own dashboard watchers, so an admin on any instance sees the whole service. Hourly counts come from the
 * shared logs in the database.
 */
@Injectable()
export class DashboardService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('dashboard');
  private readonly history: DashboardSample[] = [];
  /** The latest share of each instance, with when it arrived. */
  private readonly parts = new Map<string, { part: DashboardPart; at: number }>();
  private last: { frames: number; controls: number; dropped: number; at: number } | null = null;
  private hourlyCache: { at: number; value: DashboardHourly } | null = null;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly metrics: MetricsService,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
    private readonly db: DatabaseService,
  ) {}

  onModuleInit(): void {
    this.cluster.handle('dash-part', (m) => this.parts.set(m.instanceId as string, { part: m.part as unknown as DashboardPart, at: Date.now() }));
    this.cluster.on('instance-dead', (id) => this.parts.delete(id));
    this.timers.push(
      setInterval(() => void this.tick().catch((err) => this.logger.warn(`sample failed: ${(err as Error).message}`)), DASHBOARD_LIMITS.sampleMs),
      setInterval(() => void this.pushHourly(), DASHBOARD_LIMITS.hourlyMs),
    );
    this.timers.forEach((t) => t.unref());
  }

  onModuleDestroy(): void {
    this.timers.forEach(clearInterval);
  }

  async watch(socket: Socket): Promise<DashboardWatchAck> {
    socket.join(DASHBOARD_ROOM);
    return { ok: true, samples: [...this.history], hourly: await this.hourly() };
  }

  unwatch(socket: Socket): void {
    socket.leave(DASHBOARD_ROOM);
  }

  /** Takes this instance's share, shares it, and sends the service-wide sample to the watchers here. */
  async tick(): Promise<DashboardSample> {
    const now = Date.now();
    const [frames, controls, dropped, drivers, viewers] = await Promise.all([
      this.metrics.total(this.metrics.framesOut),
      this.metrics.total(this.metrics.controlsIn),
      this.metrics.total(this.metrics.framesSkipped),
      this.metrics.value(this.metrics.drivers),
      this.metrics.value(this.metrics.viewers),
    ]);
    const prev = this.last ?? { frames, controls, dropped, at: now };
    this.last = { frames, controls, dropped, at: now };
    const part: DashboardPart = {
      vehicles: this.metrics.socketCounts().vehicle,
      drivers,
      viewers,
      frames: frames - prev.frames,
      controls: controls - prev.controls,
      dropped: dropped - prev.dropped,
      seconds: (now - prev.at) / 1000,
      rtts: this.metrics.takeControlRtts(),
    };
    this.cluster.broadcast({ t: 'dash-part', instanceId: this.cluster.instanceId, part: part as unknown as Record<string, unknown> });
    const fresh = [...this.parts.values()].filter((p) => now - p.at <= DASHBOARD_LIMITS.sampleMs * 2.5).map((p) => p.part);
    const sample = combine(now, fresh);
    this.history.push(sample);
    if (this.history.length > DASHBOARD_LIMITS.historyPoints) this.history.shift();
    if (this.sockets.hasLocalMembers(DASHBOARD_ROOM)) this.sockets.local(DASHBOARD_ROOM).emit(DASHBOARD_EVENTS.sample, sample);
    return sample;
  }

  /** Sessions opened and sign-ins refused per hour, the last 24 hours; cached for a few seconds. */
  async hourly(): Promise<DashboardHourly> {
    const now = Date.now();
    if (this.hourlyCache && now - this.hourlyCache.at < 5000) return this.hourlyCache.value;
    const first = Math.floor(now / HOUR_MS) * HOUR_MS - (DASHBOARD_LIMITS.hours - 1) * HOUR_MS;
    const hours = Array.from({ length: DASHBOARD_LIMITS.hours }, (_, i) => first + i * HOUR_MS);
    const bucket = (col: string) => (this.db.isSqlite ? `substr(${col}, 1, 13)` : `to_char(${col}, 'YYYY-MM-DD HH24')`);
    const m = this.db.dataSource.manager;
    const since = new Date(first);
    const [sessions, failed] = await Promise.all([
      m
        .createQueryBuilder(Connection, 'c')
        .select(bucket('c.connectedAt'), 'h')
        .addSelect('COUNT(*)', 'n')
        .where('c.kind = :kind AND c.connectedAt >= :since', { kind: 'operator', since })
        .groupBy('h')
        .getRawMany<{ h: string; n: string | number }>(),
      m
        .createQueryBuilder(AuthEvent, 'e')
        .select(bucket('e.at'), 'h')
        .addSelect('COUNT(*)', 'n')
        .where('e.outcome IN (:...outcomes) AND e.at >= :since', { outcomes: FAILED_LOGINS, since })
        .groupBy('h')
        .getRawMany<{ h: string; n: string | number }>(),
    ]);
    const series = (rows: { h: string; n: string | number }[]) => {
      const byHour = new Map(rows.map((r) => [Date.parse(r.h.replace(' ', 'T') + ':00:00Z'), Number(r.n)]));
      return hours.map((h) => byHour.get(h) ?? 0);
    };
    const value = { hours, sessions: series(sessions), failedLogins: series(failed) };
    this.hourlyCache = { at: now, value };
    return value;
  }

  private async pushHourly(): Promise<void> {
    if (!this.sockets.hasLocalMembers(DASHBOARD_ROOM)) return;
    try {
      this.sockets.local(DASHBOARD_ROOM).emit(DASHBOARD_EVENTS.hourly, await this.hourly());
    } catch (err) {
      this.logger.warn(`hourly counts failed: ${(err as Error).message}`);
    }
  }
}
