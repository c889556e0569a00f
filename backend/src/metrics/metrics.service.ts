import { Inject, Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import type { SocketData } from '../sockets/relay-sockets.js';
import { RelaySockets } from '../sockets/relay-sockets.js';

/** Round trips kept between two dashboard samples (a busy instance keeps the latest). */
const RTT_KEEP = 512;

/**
 * This instance's metrics in the Prometheus text format (prom-client): Node's process metrics and vicer's own. Every
 * name is declared here, once; the services that own the events count them. Each instance has its own registry and
 * is scraped on its own — Prometheus sums across instances.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly r = [this.registry];

  readonly sockets = new Gauge({ name: 'vicer_sockets', help: 'Relay sockets connected to this instance, by kind (user, vehicle)', labelNames: ['kind'] as const, registers: this.r });
  readonly vehiclesOnline = new Gauge({ name: 'vicer_vehicles_online', help: 'Vehicles connected to this instance', registers: this.r });
  readonly drivers = new Gauge({ name: 'vicer_drivers', help: 'Drivers holding a vehicle’s controls, whose sockets are on this instance', registers: this.r });
  readonly viewers = new Gauge({ name: 'vicer_viewers', help: 'Watchers of a vehicle’s video on this instance (one per socket and vehicle)', registers: this.r });
  readonly framesIn = new Counter({ name: 'vicer_frames_in_total', help: 'Video frames received from vehicles connected here', labelNames: ['codec'] as const, registers: this.r });
  readonly framesOut = new Counter({ name: 'vicer_frames_out_total', help: 'Video frames sent to watchers (one per watcher)', labelNames: ['codec'] as const, registers: this.r });
  readonly videoBytesOut = new Counter({ name: 'vicer_video_bytes_out_total', help: 'Video bytes sent to watchers', labelNames: ['codec'] as const, registers: this.r });
  readonly framesSkipped = new Counter({
    name: 'vicer_frames_skipped_total',
    help: 'Frames a watcher did not get: no credit (a slow link), or H.264 it could not decode until the next key frame',
    labelNames: ['codec'] as const,
    registers: this.r,
  });
  readonly framesQueued = new Counter({
    name: 'vicer_frames_queued_total',
    help: 'Frames sent to a watcher whose socket was busy (still writing, polling, upgrading): through Engine.IO’s queue instead of written straight to the socket',
    registers: this.r,
  });
  readonly acksRefused = new Counter({
    name: 'vicer_frame_acks_refused_total',
    help: 'Frame acks for a frame the watcher was never sent (no credit returned)',
    registers: this.r,
  });
  readonly errorsDropped = new Counter({
    name: 'vicer_socket_errors_dropped_total',
    help: 'Error events not sent because the client’s connection already held its bound of unread bytes',
    registers: this.r,
  });
  readonly telemetryDropped = new Counter({
    name: 'vicer_telemetry_dropped_total',
    help: 'Telemetry messages from vehicles over the rate limit, not relayed',
    registers: this.r,
  });
  readonly socketsRefused = new Counter({
    name: 'vicer_sockets_refused_total',
    help: 'Relay handshakes refused for too many sockets of one account or one address',
    labelNames: ['limit'] as const,
    registers: this.r,
  });
  readonly controlsIn = new Counter({ name: 'vicer_controls_in_total', help: 'Control messages received from drivers', registers: this.r });
  readonly controlsForwarded = new Counter({ name: 'vicer_controls_forwarded_total', help: 'Controls forwarded to a vehicle connected here', registers: this.r });
  readonly controlsRefused = new Counter({
    name: 'vicer_controls_refused_total',
    help: 'Controls not forwarded: rate limit, not the driver, e-stop latched, vehicle gone',
    registers: this.r,
  });
  readonly controlRtt = new Histogram({
    name: 'vicer_control_rtt_seconds',
    help: 'Driver → server → vehicle → server round trip of a control, as told to the driver (control:ack)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: this.r,
  });
  readonly httpDuration = new Histogram({
    name: 'vicer_http_request_duration_seconds',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: this.r,
  });
  readonly authEvents = new Counter({
    name: 'vicer_auth_events_total',
    help: 'Sign-ins and token refreshes by outcome (success, bad-credentials, throttled, disabled, refresh-reuse, …)',
    labelNames: ['outcome'] as const,
    registers: this.r,
  });

  /** Control round trips since the dashboard last took them, bounded (most recent kept). */
  private rtts: number[] = [];

  constructor(
    @Inject(CONFIG) readonly config: AppConfig,
    private readonly relay: RelaySockets,
  ) {
    this.registry.setDefaultLabels({ instance_id: config.instanceId });
    // Process CPU, memory, GC, handles, and the event loop's lag (nodejs_eventloop_lag_*). The lag is sampled every
    // 100 ms: each sample wakes the loop, and ten a second are enough for its percentiles.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
  }

  /** A control's round trip as told to its driver: the histogram, and the dashboard's exact percentiles. */
  observeControlRtt(ms: number): void {
    this.controlRtt.observe(ms / 1000);
    if (this.rtts.length >= RTT_KEEP) this.rtts.shift();
    this.rtts.push(ms);
  }

  /** The round trips observed since the last call. */
  takeControlRtts(): number[] {
    const taken = this.rtts;
    this.rtts = [];
    return taken;
  }

  /** Sockets on this instance by kind, and the gauges set from them. */
  socketCounts(): { user: number; vehicle: number } {
    const kinds = { user: 0, vehicle: 0 };
    for (const s of this.relay.localSockets()) {
      const p = (s.data as SocketData | undefined)?.principal;
      if (p) kinds[p.kind]++;
    }
    this.sockets.set({ kind: 'user' }, kinds.user);
    this.sockets.set({ kind: 'vehicle' }, kinds.vehicle);
    this.vehiclesOnline.set(kinds.vehicle);
    return kinds;
  }

  /** A gauge's value (an unlabelled one). */
  async value(gauge: Gauge<string>): Promise<number> {
    return (await gauge.get()).values[0]?.value ?? 0;
  }

  /** A counter's total over its labels. */
  async total(counter: Counter<string>): Promise<number> {
    return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
  }

  /** The text exposition, with the gauges read at this moment. */
  async render(): Promise<string> {
    this.socketCounts();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
