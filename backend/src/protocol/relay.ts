import { z } from 'zod';
import { bool, wants, finite, int, isoDateTime, text, uuid } from './fields.js';

/** Socket.IO namespace of the relay (default path /socket.io). */
export const RELAY_NAMESPACE = '/relay';

export const RELAY_LIMITS = {
  /** Largest socket message (Socket.IO maxHttpBufferSize). */
  maxMessageBytes: 1024 * 1024,
  /** Largest telemetry object, as JSON, and its deepest nesting (the object itself is level 1). */
  telemetryMaxBytes: 4 * 1024,
  telemetryMaxDepth: 6,
  /** Control messages per driver per second (token bucket; a short burst is allowed). */
  controlMaxHz: 60,
  controlBurst: 10,
  /** With no control from the driver for this long, the vehicle is stopped and the lock freed. */
  leaseMs: 1000,
  /** The agent stops the car by itself after this long without a control. */
  agentDeadManMs: 500,
  /** Unacknowledged frames a watcher may have in flight. */
  creditWindow: 2,
  /** Watchers of one vehicle. */
  maxWatchersPerVehicle: 500,
} as const;

export const RELAY_EVENTS = {
  // user → server
  watch: 'watch',
  unwatch: 'unwatch',
  driveAcquire: 'drive:acquire',
  driveRelease: 'drive:release',
  control: 'control',
  estop: 'estop',
  estopClear: 'estop:clear',
  frameAck: 'frame:ack',
  /** Hands the socket a fresh access token before the old one expires. */
  reauth: 'auth',
  // vehicle → server
  frame: 'frame',
  telemetry: 'telemetry',
  controlAck: 'control:ack',
  // server → vehicle
  stop: 'stop',
  // server → every socket, once connected
  hello: 'hello',
  // server → users
  vehicleState: 'vehicle:state',
  driveRevoked: 'drive:revoked',
  error: 'error',
} as const;

export const RELAY_ERRORS = [
  'invalid-payload',
  'unknown-event',
  'unknown-vehicle',
  'vehicle-offline',
  'not-watching',
  'not-driver',
  'driver-busy',
  'forbidden',
  'estopped',
  'stale-seq',
  'rate-limited',
  'too-many-watchers',
  'token-expired',
  'user-offline',
  'busy',
  'not-in-call',
  'call-yourself',
  /** A bug on the server's side; it was logged with the event's request id. */
  'internal',
  /** The shared state of several instances (Redis) is unreachable: no new driver lock until it returns. */
  'unavailable',
] as const;
export type RelayErrorCode = (typeof RELAY_ERRORS)[number];

/** Sent to the one socket whose message was refused; the connection stays up. */
export interface RelayErrorEvent {
  code: RelayErrorCode;
  message: string;
  event: string;
}

const vehicleId = uuid('vehicle id');
const unit = finite().refine((n) => n >= -1 && n <= 1, 'must be between -1 and 1');
const seq = int(0, Number.MAX_SAFE_INTEGER);

export const VehicleRefSchema = z.strictObject({ vehicleId });
export const DriveAcquireSchema = z.strictObject({ vehicleId, force: bool().optional() });
export const ControlSchema = z.strictObject({ vehicleId, seq, throttle: unit, steer: unit, sentAt: finite() });
export const FrameAckSchema = z.strictObject({ vehicleId, seq });
export const ReauthSchema = z.strictObject({ token: text({ min: 1, max: 4096 }) });
export const FrameMetaSchema = z.strictObject({
  seq,
  capturedAt: finite(),
  width: int(1, 8192),
  height: int(1, 8192),
  codec: z.literal('jpeg', { error: wants('must be "jpeg"') }),
});
export const VehicleControlAckSchema = z.strictObject({ seq });
/** Any JSON object; its size and depth are bounded before this runs (see INBOUND_EVENTS). */
export const TelemetrySchema = z.record(z.string().max(64, 'keys must be at most 64 characters'), z.unknown(), { error: wants('must be an object') });

export type VehicleRef = z.infer<typeof VehicleRefSchema>;
export type DriveAcquire = z.infer<typeof DriveAcquireSchema>;
export type ControlMessage = z.infer<typeof ControlSchema>;
export type FrameAck = z.infer<typeof FrameAckSchema>;
export type FrameMeta = z.infer<typeof FrameMetaSchema>;
export type Telemetry = Record<string, unknown> & { speed?: number; heading?: number; x?: number; y?: number; battery?: number };

/** What the vehicle receives. */
export interface VehicleControl {
  seq: number;
  throttle: number;
  steer: number;
}

/** What watchers receive with each frame (second argument: the JPEG bytes). */
export interface RelayedFrameMeta extends FrameMeta {
  vehicleId: string;
  relayedAt: number;
}

export const DriverViewSchema = z.strictObject({ userId: z.uuid(), name: z.string() }).meta({ id: 'Driver' });
export type DriverView = z.infer<typeof DriverViewSchema>;

const liveState = {
  online: z.boolean(),
  driver: DriverViewSchema.nullable(),
  estopped: z.boolean(),
  viewers: z.number().int(),
  fps: z.number(),
};
export const VehicleStateSchema = z.strictObject({ vehicleId: z.uuid(), ...liveState }).meta({ id: 'VehicleState' });
export type VehicleState = z.infer<typeof VehicleStateSchema>;

export interface WatchAck {
  ok: boolean;
  state?: VehicleState;
  error?: RelayErrorEvent;
}

export interface DriveAck {
  ok: boolean;
  driver: DriverView | null;
  error?: RelayErrorEvent;
}

/** Sent to every socket once it is connected: which server instance it landed on. */
export interface Hello {
  instanceId: string;
}

/** To the driver who lost the seat: to an admin's takeover, or because no control arrived within the lease. */
export interface DriveRevoked {
  vehicleId: string;
  /** `unavailable`: the shared state (Redis) became unreachable, so no lock can be checked. */
  reason: 'takeover' | 'lease-expired' | 'unavailable';
  by?: DriverView;
}

export interface ControlAckToDriver {
  seq: number;
  rttMs: number;
}

/** REST: a registered vehicle with its live state. */
export const VehicleViewSchema = z
  .strictObject({ id: z.uuid(), name: z.string(), createdAt: isoDateTime(), lastSeenAt: isoDateTime().nullable(), ...liveState })
  .meta({ id: 'Vehicle' });
export type VehicleView = z.infer<typeof VehicleViewSchema>;
export const VehicleListSchema = z.array(VehicleViewSchema).meta({ id: 'VehicleList' });

export const VehicleCreatedSchema = z
  .strictObject({ id: z.uuid(), name: z.string(), token: z.string().meta({ description: 'Shown once; stored hashed' }) })
  .meta({ id: 'VehicleToken' });
export type VehicleCreated = z.infer<typeof VehicleCreatedSchema>;

const count = () => z.number().int();
export const WatcherStatsSchema = z
  .strictObject({ userId: z.uuid(), name: z.string(), sent: count(), skipped: count(), acked: count(), inFlight: count() })
  .meta({ id: 'WatcherStats' });
export type WatcherStats = z.infer<typeof WatcherStatsSchema>;

export const VehicleStatsSchema = z
  .strictObject({
    vehicleId: z.uuid(),
    online: z.boolean(),
    fps: z.number(),
    framesIn: count(),
    framesOut: count(),
    framesSkipped: count(),
    bytesIn: count(),
    bytesOut: count(),
    controlsIn: count(),
    controlsForwarded: count(),
    controlsDropped: count(),
    watchers: z.array(WatcherStatsSchema),
  })
  .meta({ id: 'VehicleStats' });
export type VehicleStats = z.infer<typeof VehicleStatsSchema>;

export const VEHICLE_NAME_MAX = 64;
/**
 * Letters and digits of any script, spaces, dots, dashes and underscores: every character except controls
 * (C0, C1, bidirectional overrides) and ASCII punctuation other than " ._-". Written with \u escapes only, so the
 * same pattern means the same in ECMAScript, PCRE and Python.
 */
export const VEHICLE_NAME_PATTERN = '^[^\\u0000-\\u001f\\u007f-\\u009f!-,/:-@\\[-\\^`{-~\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]+$';
export const CreateVehicleSchema = z
  .strictObject({
    name: text({ min: 1, max: VEHICLE_NAME_MAX, trim: true }).regex(new RegExp(VEHICLE_NAME_PATTERN), 'may hold letters, digits, spaces, dots, dashes and underscores (no other punctuation, no control characters)'),
  })
  .meta({ id: 'CreateVehicleRequest' });
export type CreateVehicleRequest = z.infer<typeof CreateVehicleSchema>;

/** Handshake `auth` of a relay socket: a user's access token or a vehicle's token. */
export type RelayHandshake = { token: string } | { vehicleToken: string };
