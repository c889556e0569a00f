import { z } from 'zod';

/** Socket.IO namespace of the relay (default path /socket.io). */
export const RELAY_NAMESPACE = '/relay';

export const RELAY_LIMITS = {
  /** Largest socket message (Socket.IO maxHttpBufferSize). */
  maxMessageBytes: 1024 * 1024,
  /** Largest telemetry object, as JSON. */
  telemetryMaxBytes: 4 * 1024,
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
] as const;
export type RelayErrorCode = (typeof RELAY_ERRORS)[number];

/** Sent to the one socket whose message was refused; the connection stays up. */
export interface RelayErrorEvent {
  code: RelayErrorCode;
  message: string;
  event: string;
}

const vehicleId = z.uuid({ error: 'must be a vehicle id (uuid)' });
const finite = z.number({ error: 'must be a number' }).refine(Number.isFinite, 'must be finite');
const unit = finite.refine((n) => n >= -1 && n <= 1, 'must be between -1 and 1');
const seq = z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must be ≥ 0').max(Number.MAX_SAFE_INTEGER);

export const VehicleRefSchema = z.strictObject({ vehicleId });
export const DriveAcquireSchema = z.strictObject({ vehicleId, force: z.boolean({ error: 'must be true or false' }).optional() });
export const ControlSchema = z.strictObject({ vehicleId, seq, throttle: unit, steer: unit, sentAt: finite });
export const FrameAckSchema = z.strictObject({ vehicleId, seq });
export const ReauthSchema = z.strictObject({ token: z.string().min(1).max(4096) });
export const FrameMetaSchema = z.strictObject({
  seq,
  capturedAt: finite,
  width: z.number().int().min(1).max(8192),
  height: z.number().int().min(1).max(8192),
  codec: z.literal('jpeg', { error: 'must be "jpeg"' }),
});
export const VehicleControlAckSchema = z.strictObject({ seq });
export const TelemetrySchema = z
  .record(z.string().max(64), z.unknown(), { error: 'must be an object' })
  .refine((t) => JSON.stringify(t).length <= RELAY_LIMITS.telemetryMaxBytes, `must be at most ${RELAY_LIMITS.telemetryMaxBytes} bytes as JSON`);

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

export interface DriverView {
  userId: string;
  name: string;
}

export interface VehicleState {
  vehicleId: string;
  online: boolean;
  driver: DriverView | null;
  estopped: boolean;
  viewers: number;
  fps: number;
}

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

export interface ControlAckToDriver {
  seq: number;
  rttMs: number;
}

/** REST: a registered vehicle with its live state. */
export interface VehicleView extends Omit<VehicleState, 'vehicleId'> {
  id: string;
  name: string;
  createdAt: string;
  lastSeenAt: string | null;
}

export interface VehicleCreated {
  id: string;
  name: string;
  /** Shown once; stored hashed. */
  token: string;
}

export interface WatcherStats {
  userId: string;
  name: string;
  sent: number;
  skipped: number;
  acked: number;
  inFlight: number;
}

export interface VehicleStats {
  vehicleId: string;
  online: boolean;
  fps: number;
  framesIn: number;
  framesOut: number;
  framesSkipped: number;
  bytesIn: number;
  bytesOut: number;
  controlsIn: number;
  controlsForwarded: number;
  controlsDropped: number;
  watchers: WatcherStats[];
}

export const VEHICLE_NAME_MAX = 64;
export const CreateVehicleSchema = z.strictObject({
  name: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(VEHICLE_NAME_MAX, `must be at most ${VEHICLE_NAME_MAX} characters`)
    .regex(/^[\p{L}\p{N} ._-]+$/u, 'may hold letters, digits, spaces, dots, dashes and underscores'),
});
export type CreateVehicleRequest = z.infer<typeof CreateVehicleSchema>;

/** Handshake `auth` of a relay socket: a user's access token or a vehicle's token. */
export type RelayHandshake = { token: string } | { vehicleToken: string };
