import type { z } from 'zod';
import { CALL_EVENTS, CALL_LIMITS, CallInviteSchema, CallRefSchema, CallSignalSchema } from './calls.js';
import {
  ClockSchema,
  ControlSchema,
  DriveAcquireSchema,
  FrameAckSchema,
  FrameMetaSchema,
  isWellFormedFrameMeta,
  ReauthSchema,
  RELAY_EVENTS,
  RELAY_LIMITS,
  TelemetrySchema,
  VehicleControlAckSchema,
  VehicleRefSchema,
  VideoCapsSchema,
  WatchSchema,
  type RelayErrorCode,
} from './relay.js';
import { DASHBOARD_EVENTS, DashboardWatchSchema } from './dashboard.js';
import { checkBounds, fieldErrors, summarize, type PayloadBounds } from './validation.js';
import { splitFrameMessage } from './frame-message.js';

/** Who may send an event on the relay socket. */
export type Sender = 'user' | 'vehicle';

export interface InboundEvent {
  from: Sender | 'any';
  schema: z.ZodType;
  /** Checked before the schema runs: nothing walks a payload bigger or deeper than this. */
  bounds: PayloadBounds;
  /** The event carries binary data as its second argument (a video frame). */
  binary?: { maxBytes: number };
  /**
   * For the most frequent events: a check that accepts only payloads the schema accepts unchanged, without walking
   * them. When it says yes, the bounds and the schema are skipped; when no, they judge as usual.
   */
  fast?: (payload: unknown) => boolean;
}

/** Small objects of ids and numbers. */
const SMALL: PayloadBounds = { maxBytes: 1024, maxDepth: 3 };

/** Every event a client may send, with its sender, schema and bounds: the server validates with this table. */
export const INBOUND_EVENTS: Record<string, InboundEvent> = {
  [RELAY_EVENTS.watch]: { from: 'user', schema: WatchSchema, bounds: SMALL },
  [RELAY_EVENTS.unwatch]: { from: 'user', schema: VehicleRefSchema, bounds: SMALL },
  [RELAY_EVENTS.driveAcquire]: { from: 'user', schema: DriveAcquireSchema, bounds: SMALL },
  [RELAY_EVENTS.driveRelease]: { from: 'user', schema: VehicleRefSchema, bounds: SMALL },
  [RELAY_EVENTS.control]: { from: 'user', schema: ControlSchema, bounds: SMALL },
  [RELAY_EVENTS.estop]: { from: 'user', schema: VehicleRefSchema, bounds: SMALL },
  [RELAY_EVENTS.estopClear]: { from: 'user', schema: VehicleRefSchema, bounds: SMALL },
  [RELAY_EVENTS.frameAck]: { from: 'user', schema: FrameAckSchema, bounds: SMALL },
  [RELAY_EVENTS.reauth]: { from: 'user', schema: ReauthSchema, bounds: { maxBytes: 8 * 1024, maxDepth: 2 } },
  [RELAY_EVENTS.frame]: { from: 'vehicle', schema: FrameMetaSchema, bounds: { maxBytes: 2048, maxDepth: 3 }, binary: { maxBytes: RELAY_LIMITS.maxMessageBytes }, fast: isWellFormedFrameMeta },
  [RELAY_EVENTS.telemetry]: { from: 'vehicle', schema: TelemetrySchema, bounds: { maxBytes: RELAY_LIMITS.telemetryMaxBytes, maxDepth: RELAY_LIMITS.telemetryMaxDepth } },
  [RELAY_EVENTS.controlAck]: { from: 'vehicle', schema: VehicleControlAckSchema, bounds: SMALL },
  [RELAY_EVENTS.videoCaps]: { from: 'vehicle', schema: VideoCapsSchema, bounds: SMALL },
  [RELAY_EVENTS.clock]: { from: 'any', schema: ClockSchema, bounds: SMALL },
  [DASHBOARD_EVENTS.watch]: { from: 'user', schema: DashboardWatchSchema, bounds: SMALL },
  [DASHBOARD_EVENTS.unwatch]: { from: 'user', schema: DashboardWatchSchema, bounds: SMALL },
  [CALL_EVENTS.invite]: { from: 'user', schema: CallInviteSchema, bounds: SMALL },
  [CALL_EVENTS.accept]: { from: 'user', schema: CallRefSchema, bounds: SMALL },
  [CALL_EVENTS.decline]: { from: 'user', schema: CallRefSchema, bounds: SMALL },
  [CALL_EVENTS.signal]: { from: 'user', schema: CallSignalSchema, bounds: { maxBytes: CALL_LIMITS.signalMaxBytes, maxDepth: 3 } },
  [CALL_EVENTS.hangup]: { from: 'user', schema: CallRefSchema, bounds: SMALL },
};

/** Longest event name echoed back in an error. */
const EVENT_NAME_MAX = 64;

export type Inbound = { ok: true; event: string; data: any; binary?: Uint8Array } | { ok: false; event: string; code: RelayErrorCode; message: string };

/**
 * Validates one incoming socket event (its name and its arguments without the ack callback) from a sender: the
 * event is known and allowed for that sender, its payload is within bounds, then it matches its schema. Never
 * throws, whatever the input.
 */
export function parseInbound(name: unknown, args: unknown[], sender: Sender): Inbound {
  const event = typeof name === 'string' ? name.slice(0, EVENT_NAME_MAX) : String(typeof name);
  try {
    const spec = typeof name === 'string' && Object.hasOwn(INBOUND_EVENTS, name) ? INBOUND_EVENTS[name] : undefined;
    if (!spec) return { ok: false, event, code: 'unknown-event', message: `unknown event ${event}` };
    if (spec.from !== 'any' && spec.from !== sender) return { ok: false, event, code: 'forbidden', message: `a ${sender} cannot send ${event}` };
    const expected = spec.binary ? 2 : 1;
    if (args.length !== expected) return { ok: false, event, code: 'invalid-payload', message: `${event} takes ${expected === 1 ? 'one argument' : 'two arguments: the meta object and the binary data'}` };
    let data: unknown = args[0];
    if (!spec.fast?.(data)) {
      const tooBig = checkBounds(data, spec.bounds);
      if (tooBig) return { ok: false, event, code: 'invalid-payload', message: `(payload): ${tooBig}` };
      const parsed = spec.schema.safeParse(data);
      if (!parsed.success) return { ok: false, event, code: 'invalid-payload', message: summarize(fieldErrors(parsed.error)) };
      data = parsed.data;
    }
    if (!spec.binary) return { ok: true, event, data };
    const bytes = args[1];
    if (!(bytes instanceof Uint8Array)) return { ok: false, event, code: 'invalid-payload', message: 'the second argument must be binary data' };
    if (bytes.length > spec.binary.maxBytes) return { ok: false, event, code: 'invalid-payload', message: `the binary data is larger than ${spec.binary.maxBytes} bytes` };
    return { ok: true, event, data, binary: bytes };
  } catch {
    // A schema that throws (it should not) is still a refusal, not a crash.
    return { ok: false, event, code: 'invalid-payload', message: 'the payload could not be validated' };
  }
}

/**
 * Validates a frame sent as one binary message (see `BINARY_FRAME`): the meta's length is checked before its JSON
 * is parsed, then the meta and the bytes go through exactly the rules of the `frame` event. Never throws.
 */
export function parseBinaryFrame(data: Uint8Array, sender: Sender): Inbound {
  const event = RELAY_EVENTS.frame;
  const spec = INBOUND_EVENTS[event];
  if (spec.from !== sender) return { ok: false, event, code: 'forbidden', message: `a ${sender} cannot send ${event}` };
  const split = splitFrameMessage(data, spec.bounds.maxBytes);
  if (!split.ok) return { ok: false, event, code: 'invalid-payload', message: split.message };
  let meta: unknown;
  try {
    meta = JSON.parse(split.json);
  } catch {
    return { ok: false, event, code: 'invalid-payload', message: "the frame's meta must be UTF-8 JSON" };
  }
  return parseInbound(event, [meta, split.bytes], sender);
}
