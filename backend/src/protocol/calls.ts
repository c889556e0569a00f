import { z } from 'zod';

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

const callId = z.uuid({ error: 'must be a call id (uuid)' });

export const CallInviteSchema = z.strictObject({ to: z.uuid({ error: 'must be a user id (uuid)' }) });
export const CallRefSchema = z.strictObject({ callId });
export const CallSignalSchema = z
  .strictObject({
    callId,
    description: z.strictObject({ type: z.enum(['offer', 'answer', 'pranswer', 'rollback']), sdp: z.string().optional() }).optional(),
    candidate: z
      .strictObject({
        candidate: z.string(),
        sdpMid: z.string().nullable().optional(),
        sdpMLineIndex: z.number().int().min(0).nullable().optional(),
        usernameFragment: z.string().nullable().optional(),
      })
      .nullable()
      .optional(),
  })
  .refine((s) => s.description !== undefined || s.candidate !== undefined, 'needs a description or a candidate')
  .refine((s) => JSON.stringify(s).length <= CALL_LIMITS.signalMaxBytes, `must be at most ${CALL_LIMITS.signalMaxBytes} bytes`);

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
export interface RtcConfig {
  iceServers: { urls: string[]; username?: string; credential?: string }[];
}

/** A call as the log keeps it. */
export interface CallView {
  id: string;
  callerId: string;
  callerName: string;
  calleeId: string;
  calleeName: string;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  endReason: CallEndReason | null;
  durationSeconds: number | null;
}
