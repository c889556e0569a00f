import { z } from 'zod';
import { pageOf, paging, period } from './connections.js';
import { isoDateTime, uuid, wants } from './fields.js';

/**
 * Drive recordings: one MCAP file per drive session. Topics, schema names and message shapes are shared by the
 * recorder and any reader (the web app's player, Foxglove). Messages are JSON; `data` fields are base64.
 */
export const RECORDING_TOPICS = {
  /** foxglove.CompressedVideo, Annex B H.264 (parameter sets before every key frame). */
  video: '/camera/h264',
  /** foxglove.CompressedImage, JPEG. */
  image: '/camera/jpeg',
  /** Controls as the server received them from the driver. */
  controlReceived: '/control/received',
  /** Controls as the server forwarded them to the vehicle (after every safety check). */
  controlForwarded: '/control/forwarded',
  controlAck: '/control/ack',
  telemetry: '/telemetry',
  /** Safety events: acquire, release, lease-expired, takeover, e-stop, e-stop-clear, vehicle-offline. */
  events: '/events',
} as const;

export const RECORDING_EVENTS = ['acquire', 'release', 'lease-expired', 'takeover', 'driver-disconnected', 'estop', 'estop-clear', 'vehicle-offline', 'end'] as const;
export type RecordingEventKind = (typeof RECORDING_EVENTS)[number];

export const RECORDING_END_REASONS = ['released', 'lease-expired', 'takeover', 'driver-disconnected', 'vehicle-offline', 'unavailable', 'server-stopped', 'server-crash'] as const;
export type RecordingEndReason = (typeof RECORDING_END_REASONS)[number];

export interface RecordedControl {
  seq: number;
  throttle: number;
  steer: number;
  /** When the driver sent it, in server time. */
  sentAt: number;
  driverId: string;
  driver: string;
}
export interface RecordedControlAck {
  seq: number;
  rttMs: number;
}
export interface RecordedEvent {
  kind: RecordingEventKind;
  by?: string;
  reason?: string;
}

export const RecordingViewSchema = z
  .strictObject({
    id: z.uuid(),
    vehicleId: z.uuid(),
    vehicleName: z.string(),
    driverId: z.uuid().nullable(),
    driverName: z.string(),
    /** The driver's session in the connection log. */
    connectionId: z.uuid().nullable(),
    startedAt: isoDateTime(),
    endedAt: isoDateTime().nullable(),
    durationMs: z.number().int().nullable(),
    bytes: z.number().int(),
    /** Why the drive ended; null while it is being recorded. */
    endReason: z.enum(RECORDING_END_REASONS).nullable(),
    /** The file was rewritten after a crash: what reached the disk is there, the last seconds may not be. */
    repaired: z.boolean(),
  })
  .meta({ id: 'Recording' });
export type RecordingView = z.infer<typeof RecordingViewSchema>;
export const RecordingsPageSchema = pageOf(RecordingViewSchema, 'RecordingsPage');

export const RecordingsQuerySchema = z.strictObject({
  vehicleId: uuid('vehicle id').optional(),
  driverId: uuid('user id').optional(),
  /** Sessions of the connection log, comma-separated (at most 100): the recordings of the drives they made. */
  connectionIds: z
    .string({ error: wants('must be a comma-separated list of connection ids') })
    .max(100 * 37, 'names at most 100 connection ids')
    .transform((s) => s.split(','))
    .pipe(z.array(uuid('connection id')).max(100, 'names at most 100 connection ids'))
    .optional(),
  ...paging,
  ...period,
});
export type RecordingsQuery = z.output<typeof RecordingsQuerySchema>;

export const RecordingSettingSchema = z.strictObject({ enabled: z.boolean() }).meta({ id: 'RecordingSetting' });
