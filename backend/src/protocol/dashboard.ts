import { z } from 'zod';

/** The admin dashboard's live feed, over the relay socket (no polling). */
export const DASHBOARD_EVENTS = {
  /** user → server: start the feed; the ack carries the last minutes and the hourly counts. */
  watch: 'dashboard:watch',
  unwatch: 'dashboard:unwatch',
  /** server → watchers: one sample every DASHBOARD_LIMITS.sampleMs, summed over every instance. */
  sample: 'dashboard:sample',
  /** server → watchers: the hourly counts, again every DASHBOARD_LIMITS.hourlyMs. */
  hourly: 'dashboard:hourly',
} as const;

export const DASHBOARD_LIMITS = {
  sampleMs: 2000,
  /** Samples kept and sent on watch: 10 minutes. */
  historyPoints: 300,
  hourlyMs: 60_000,
  hours: 24,
} as const;

export const DashboardWatchSchema = z.strictObject({});

/** One moment of the whole service: counts now, rates over the last interval, RTT percentiles of that interval. */
export interface DashboardSample {
  /** Epoch ms, server time. */
  at: number;
  vehiclesOnline: number;
  drivers: number;
  viewers: number;
  framesPerSec: number;
  controlsPerSec: number;
  droppedPerSec: number;
  /** Control round trip of the interval's controls; null when nobody drove. */
  rttP50Ms: number | null;
  rttP99Ms: number | null;
  /** Instances whose numbers are in this sample. */
  instances: number;
}

/** The last DASHBOARD_LIMITS.hours hours, oldest first: hour starts (epoch ms) and counts from the logs. */
export interface DashboardHourly {
  hours: number[];
  /** User sessions opened (the connection log). */
  sessions: number[];
  /** Sign-ins refused: bad credentials, throttled, disabled (the auth log). */
  failedLogins: number[];
}

export interface DashboardWatchAck {
  ok: true;
  samples: DashboardSample[];
  hourly: DashboardHourly;
}
