import { z } from 'zod';
import { bool, finite, int, isoDateTime, text, tooLong, uuid, wants } from './fields.js';

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
  /** Telemetry messages per vehicle per second, the same way (vehicles send about 10). */
  telemetryMaxHz: 30,
  telemetryBurst: 30,
  /** With no control from the driver for this long, the vehicle is stopped and the lock freed. */
  leaseMs: 1000,
  /** The agent stops the car by itself after this long without a control. */
  agentDeadManMs: 500,
  /** Unacknowledged frames a watcher may have in flight: JPEG (any frame stands alone; the newest wins). */
  creditWindow: 2,
  /**
   * The same for H.264, whose frames are small and all needed (skipping one means starting again from a key frame):
   * a third of a second at 30 fps, so a link with a long round trip still gets every frame.
   */
  creditWindowH264: 10,
  /**
   * Acks are cumulative (an ack settles every earlier frame too), so a watcher acknowledges every n-th frame drawn,
   * and at the latest `ackFlushMs` after one was drawn. JPEG acks each frame: its window is two frames.
   */
  ackEvery: { jpeg: 1, h264: 5 },
  ackFlushMs: 170,
  /**
   * Bytes the server has written to one watcher's connection and the network has not yet taken. Past it the watcher
   * skips frames like a watcher without credit, whatever it acknowledges: a client that stops reading cannot make
   * the server hold more than this (plus one H.264 group when it starts again) for it.
   */
  watcherBacklogBytes: 1024 * 1024,
  /** Watchers of one vehicle. */
  maxWatchersPerVehicle: 500,
  /** The frames of one H.264 group of pictures kept for watchers who join late or fell behind, at most. */
  gopCacheBytes: 4 * 1024 * 1024,
  /** Live frames held for a drive recorded on another instance than its vehicle's, until its first group arrives. */
  recordingHoldFrames: 300,
  /** A vehicle is asked for a key frame at most this often (requests from many watchers are coalesced). */
  keyframeRequestMs: 1000,
  /** A control older than this in server time when it reaches the vehicle is not applied. */
  staleControlMs: 250,
  /** The web app sends zero when no frame was drawn for this long: nobody drives blind. */
  staleVideoMs: 500,
} as const;

/** Video codecs on the relay: H.264 (WebCodecs in the browser) and JPEG (everywhere). */
export const VIDEO_CODECS = ['h264', 'jpeg'] as const;
export type VideoCodec = (typeof VIDEO_CODECS)[number];

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
  // any client → server
  /** Clock sync: the ack carries the server's time (NTP-style offset estimate, best of several). */
  clock: 'clock',
  // vehicle → server
  frame: 'frame',
  telemetry: 'telemetry',
  controlAck: 'control:ack',
  /** What the vehicle can send: codecs, and whether it can add a JPEG stream on request. */
  videoCaps: 'video:caps',
  // server → vehicle
  stop: 'stop',
  /** A new driver holds the seat: controls carrying this fencing token may move the vehicle, no other. */
  seat: 'seat',
  /** Send a key frame soon (a watcher joined or fell behind). */
  keyframeRequest: 'keyframe:request',
  /** Which streams watchers need: `jpeg: true` when some watcher cannot decode H.264. */
  videoConfig: 'video:config',
  // server → every socket, once connected
  hello: 'hello',
  // server → users
  vehicleState: 'vehicle:state',
  driveRevoked: 'drive:revoked',
  error: 'error',
} as const;

/**
 * A refused handshake's connect_error: the message `unauthorized` when the credentials will not work (stop, or sign
 * in again); otherwise its `data` says why, and the client tries again later.
 */
export const HANDSHAKE_UNAUTHORIZED = 'unauthorized';
export const HANDSHAKE_REFUSALS = ['maintenance', 'unavailable', 'database-busy', 'too-many-connections'] as const;
export interface HandshakeRefusal {
  code: (typeof HANDSHAKE_REFUSALS)[number];
}

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
  /** The watcher cannot decode what the vehicle sends, and the vehicle cannot send anything else. */
  'codec-unavailable',
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
const codecs = z.array(z.enum(VIDEO_CODECS, { error: wants('must be h264 or jpeg') }), { error: wants('must be a list of codecs') }).min(1, 'must name a codec').max(2);
/** `codecs`: what this watcher can decode, preferred first (default: JPEG only, which every client can draw). */
export const WatchSchema = z.strictObject({ vehicleId, codecs: codecs.optional() });
export const ClockSchema = z.strictObject({ t0: finite() });
export const VideoCapsSchema = z.strictObject({ codecs, jpegOnRequest: bool().optional() });
export const DriveAcquireSchema = z.strictObject({ vehicleId, force: bool().optional() });
export const ControlSchema = z.strictObject({ vehicleId, seq, throttle: unit, steer: unit, sentAt: finite() });
export const FrameAckSchema = z.strictObject({ vehicleId, seq });
export const ReauthSchema = z.strictObject({ token: text({ min: 1, max: 4096 }) });
const FRAME_SIZE_MAX = 8192;
const AVC_CODEC = /^avc1\.[0-9A-Fa-f]{6}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const AVC_DESCRIPTION_MAX = 1024;
const frameCommon = { seq, capturedAt: finite(), width: int(1, FRAME_SIZE_MAX), height: int(1, FRAME_SIZE_MAX) };
/** H.264 in AVC format (length-prefixed NAL units); key frames carry the decoder configuration (avcC). */
export const H264ConfigSchema = z.strictObject({
  /** The codec string WebCodecs takes, e.g. avc1.42C01E (from the SPS's profile, constraints and level). */
  codec: z.string({ error: wants('must be a string') }).regex(AVC_CODEC, 'must be an avc1.PPCCLL codec string'),
  /** The AVCDecoderConfigurationRecord (SPS and PPS), base64. */
  description: z.string({ error: wants('must be a string') }).max(AVC_DESCRIPTION_MAX, tooLong(AVC_DESCRIPTION_MAX)).regex(BASE64, 'must be base64'),
});
export const FrameMetaSchema = z
  .discriminatedUnion(
    'codec',
    [
      z.strictObject({ ...frameCommon, codec: z.literal('jpeg') }),
      z.strictObject({ ...frameCommon, codec: z.literal('h264'), key: bool(), config: H264ConfigSchema.optional() }),
    ],
    { error: wants('must be "jpeg" or "h264"') },
  )
  .refine((m) => m.codec !== 'h264' || !m.key || m.config !== undefined, { message: 'a key frame carries its decoder config', path: ['config'] });
const FRAME_KEYS = new Set(['seq', 'capturedAt', 'width', 'height', 'codec', 'key', 'config']);
const isInt = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
/** The fields the fast check reads, each still unknown. */
interface Unchecked {
  seq?: unknown;
  capturedAt?: unknown;
  width?: unknown;
  height?: unknown;
  codec?: unknown;
  key?: unknown;
  config?: unknown;
  description?: unknown;
}
const isPlain = (v: unknown): v is Unchecked => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/**
 * Whether `FrameMetaSchema` accepts this meta as it is — the well-formed case, checked field by field. A vehicle sends
 * 30 metas a second; at that rate the schema's code is never warm in the CPU's caches, and it cost about a hundred
 * microseconds a frame where this costs one. False means only "not sure": the schema then judges, and names what is
 * wrong. Reads fixed fields and at most seven keys, whatever the input's size. A property test holds it to the schema.
 */
export function isWellFormedFrameMeta(m: unknown): m is FrameMeta {
  if (!isPlain(m)) return false;
  let keys = 0;
  for (const k in m) {
    if (!FRAME_KEYS.has(k)) return false;
    keys++;
  }
  if (!isInt(m.seq, 0, Number.MAX_SAFE_INTEGER) || typeof m.capturedAt !== 'number' || !Number.isFinite(m.capturedAt)) return false;
  if (!isInt(m.width, 1, FRAME_SIZE_MAX) || !isInt(m.height, 1, FRAME_SIZE_MAX)) return false;
  if (m.codec === 'jpeg') return keys === 5;
  if (m.codec !== 'h264' || typeof m.key !== 'boolean') return false;
  if (keys === 6) return !m.key && !('config' in m);
  const c = m.config;
  if (keys !== 7 || !isPlain(c) || typeof c.codec !== 'string' || typeof c.description !== 'string') return false;
  let configKeys = 0;
  for (const k in c) {
    if (k !== 'codec' && k !== 'description') return false;
    configKeys++;
  }
  return configKeys === 2 && AVC_CODEC.test(c.codec) && c.description.length <= AVC_DESCRIPTION_MAX && BASE64.test(c.description);
}

export const VehicleControlAckSchema = z.strictObject({ seq });
/** Any JSON object; its size and depth are bounded before this runs (see INBOUND_EVENTS). */
export const TelemetrySchema = z.record(z.string().max(64, 'keys must be at most 64 characters'), z.unknown(), { error: wants('must be an object') });

export type VehicleRef = z.infer<typeof VehicleRefSchema>;
export type DriveAcquire = z.infer<typeof DriveAcquireSchema>;
export type ControlMessage = z.infer<typeof ControlSchema>;
export type FrameAck = z.infer<typeof FrameAckSchema>;
export type FrameMeta = z.infer<typeof FrameMetaSchema>;
export type H264Config = z.infer<typeof H264ConfigSchema>;
export type WatchRequest = z.infer<typeof WatchSchema>;
export type VideoCaps = z.infer<typeof VideoCapsSchema>;
export type Telemetry = Record<string, unknown> & { speed?: number; heading?: number; x?: number; y?: number; battery?: number };

/**
 * What the vehicle receives. `sentAt` is when the driver sent it, in server time (see `clock`). `fence` is the
 * fencing token of the driver's seat: the vehicle applies a control only when it is the token of the latest `seat`
 * and no `stop` came since.
 */
export interface VehicleControl {
  seq: number;
  throttle: number;
  steer: number;
  sentAt: number;
  fence: number;
}

/**
 * To the vehicle before the first control of a new driver. Tokens only grow (every acquisition, takeover included,
 * gets a larger one, across restarts of the server and of Redis): a `seat` with a token at or below one already seen
 * is stale and ignored.
 */
export interface VehicleSeat {
  fence: number;
}

/**
 * To the vehicle: the e-stop latch. `gen` numbers the latch's changes (a latch and its clear each take the next
 * number, kept in the database); a clear applies only when its `gen` is above the latch's. A latch whose number is
 * not known yet (the database was unreachable) has `gen: null` and only a later latch's number can be cleared.
 */
export interface VehicleEstop {
  by: string;
  gen: number | null;
}
export interface VehicleEstopClear {
  gen: number;
}

/** The ack of `clock`: the client's `t0` back, and the server's time when it answered (epoch ms). */
export interface ClockAck {
  ok: true;
  t0: number;
  server: number;
}

/** To a vehicle: the streams its watchers need. */
export interface VideoConfig {
  jpeg: boolean;
}

/** What watchers receive with each frame (second argument: the JPEG bytes or the H.264 access unit). */
export type RelayedFrameMeta = FrameMeta & {
  vehicleId: string;
  relayedAt: number;
};

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
  /** The codec this watcher will get. */
  codec?: VideoCodec;
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

export const DRIVE_REVOKED_REASONS = ['takeover', 'lease-expired', 'unavailable', 'vehicle-lost'] as const;

/** To the driver who lost the seat: to an admin's takeover, or because no control arrived within the lease. */
export interface DriveRevoked {
  vehicleId: string;
  /**
   * `unavailable`: the shared state (Redis) became unreachable, so no lock can be checked. `vehicle-lost`: the
   * vehicle's connection ended (or its server instance died); a vehicle that comes back is driven only after a new
   * `drive:acquire`.
   */
  reason: (typeof DRIVE_REVOKED_REASONS)[number];
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
    telemetryIn: count(),
    telemetryDropped: count(),
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
