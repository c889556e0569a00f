import { Injectable } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { MetricsService } from '../metrics/metrics.service.js';
import { RELAY_EVENTS as EV, RELAY_LIMITS } from '../protocol/index.js';
import { RecordingsService } from '../recordings/recordings.service.js';
import { RelaySockets, WATCH_ROOM } from '../sockets/relay-sockets.js';
import { TokenBucket } from './token-bucket.js';

/** Thrown once per flood when a vehicle sends telemetry faster than its limit; the gateway answers with an error event. */
export class TelemetryRateError extends Error {
  readonly code = 'rate-limited' as const;
}

/**
 * Telemetry from the vehicles connected here: limited per vehicle like controls are per driver (a burst, then
 * `telemetryMaxHz`), relayed to the vehicle's watchers on every instance and recorded. What is dropped is counted.
 */
@Injectable()
export class TelemetryService {
  private readonly buckets = new WeakMap<Socket, TokenBucket>();
  private readonly counts = new Map<string, { telemetryIn: number; telemetryDropped: number }>();

  constructor(
    private readonly sockets: RelaySockets,
    private readonly recordings: RecordingsService,
    private readonly metrics: MetricsService,
  ) {}

  fromVehicle(socket: Socket, vehicleId: string, data: Record<string, unknown>): void {
    const c = this.count(vehicleId);
    c.telemetryIn++;
    let bucket = this.buckets.get(socket);
    if (!bucket) this.buckets.set(socket, (bucket = new TokenBucket(RELAY_LIMITS.telemetryMaxHz, RELAY_LIMITS.telemetryBurst)));
    if (!bucket.take()) {
      c.telemetryDropped++;
      this.metrics.telemetryDropped.inc();
      if (bucket.notified) return;
      bucket.notified = true;
      throw new TelemetryRateError(`at most ${RELAY_LIMITS.telemetryMaxHz} telemetry messages per second; the excess is dropped`);
    }
    this.sockets.to(WATCH_ROOM(vehicleId)).emit(EV.telemetry, { ...data, vehicleId, receivedAt: Date.now() });
    this.recordings.telemetry(vehicleId, data);
  }

  /** This instance's telemetry counters for a vehicle. */
  stats(vehicleId: string): { telemetryIn: number; telemetryDropped: number } {
    return { ...this.count(vehicleId) };
  }

  forget(vehicleId: string): void {
    this.counts.delete(vehicleId);
  }

  private count(vehicleId: string) {
    let c = this.counts.get(vehicleId);
    if (!c) this.counts.set(vehicleId, (c = { telemetryIn: 0, telemetryDropped: 0 }));
    return c;
  }
}
