import { z } from 'zod';
import { pageOf } from './connections.js';
import { wants, isoDateTime, oneOf, uuid } from './fields.js';

export const CALL_EVENTS = {
  invite: 'call:invite',
  incoming: 'call:incoming',
  accept: 'call:accept',
  /** To the caller: the callee accepted; the caller now sends its offer. */
  accepted: 'call:accepted',
  decline: 'call:decline',
  signal: 'call:signal',
  hangup: 'call:hangup',
  ended: 'call:ended',
} as const;

export const CALL_LIMITS = {
  ringMs: 30_000,
  signalMaxBytes: 64 * 1024,
} as const;

export const CALL_END_REASONS = ['hangup', 'declined', 'timeout', 'busy', 'peer-disconnected'] as const;
export type CallEndReason = (typeof CALL_END_REASONS)[number];

const callId = uuid('call id');
const str = () => z.string({ error: wants('must be a string') });

export const CallInviteSchema = z.strictObject({ to: uuid('user id') });
export const CallRefSchema = z.strictObject({ callId });
export const CallSignalSchema = z
  .strictObject({
    callId,
    description: z.strictObject({ type: oneOf(['offer', 'answer', 'pranswer', 'rollback']), sdp: str().optional() }, { error: wants('must be an object') }).optional(),
    candidate: z
      .strictObject(
        {
          candidate: str(),
          sdpMid: str().nullable().optional(),
          sdpMLineIndex: z.number({ error: wants('must be a number') }).int().min(0).max(65535).nullable().optional(),
          usernameFragment: str().nullable().optional(),
        },
        { error: wants('must be an object') },
      )
      .nullable()
      .optional(),
  })
  .refine((s) => s.description !== undefined || s.candidate !== undefined, 'needs a description or a candidate');

export type CallInvite = z.infer<typeof CallInviteSchema>;
export type CallSignal = z.infer<typeof CallSignalSchema>;

export interface CallParty {
  userId: string;
  name: string;
}

export interface CallIncoming {
  callId: string;
  from: CallParty;
}

export interface CallEnded {
  callId: string;
  reason: CallEndReason;
}

export interface CallInviteAck {
  ok: boolean;
  callId?: string;
  error?: { code: string; message: string; event: string };
}

/** GET /api/rtc/config */
export const RtcConfigSchema = z
  .strictObject({
    iceServers: z.array(z.strictObject({ urls: z.array(z.string()), username: z.string().optional(), credential: z.string().optional() })),
  })
  .meta({ id: 'RtcConfig' });
export type RtcConfig = z.infer<typeof RtcConfigSchema>;

/** A call as the log keeps it. */
export const CallViewSchema = z
  .strictObject({
    id: z.uuid(),
    callerId: z.uuid(),
    callerName: z.string(),
    calleeId: z.uuid(),
    calleeName: z.string(),
    startedAt: isoDateTime(),
    answeredAt: isoDateTime().nullable(),
    endedAt: isoDateTime().nullable(),
    endReason: z.enum(CALL_END_REASONS).nullable(),
    durationSeconds: z.number().int().nullable(),
  })
  .meta({ id: 'Call' });
export type CallView = z.infer<typeof CallViewSchema>;
export const CallsPageSchema = pageOf(CallViewSchema, 'CallsPage');
