import { z } from 'zod';
import { AUTH_OUTCOMES, type AuthOutcome } from './accounts.js';

export const CONNECTION_KINDS = ['operator', 'vehicle'] as const;
export type ConnectionKind = (typeof CONNECTION_KINDS)[number];
export const PAGE_SIZE_MAX = 500;
export const PAGE_SIZE_DEFAULT = 50;

/** One socket session of a user (operator) or a vehicle. */
export interface ConnectionView {
  id: string;
  kind: ConnectionKind;
  userId: string | null;
  vehicleId: string | null;
  name: string;
  ip: string | null;
  port: number | null;
  userAgent: string | null;
  connectedAt: string;
  disconnectedAt: string | null;
  disconnectReason: string | null;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
}

export interface AuthEventView {
  id: string;
  at: string;
  email: string | null;
  userId: string | null;
  ip: string | null;
  userAgent: string | null;
  outcome: AuthOutcome;
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  pageSize: number;
}

/** Sent to admin sockets as connections open, close and update: the admin page needs no polling. */
export interface ConnectionsUpdate {
  type: 'opened' | 'closed' | 'updated';
  connection: ConnectionView;
}

/** An online user as everyone signed in sees them: no email, no ip. */
export interface PresenceEntry {
  userId: string;
  name: string;
  since: string;
  /** In a face-chat call (or ringing) right now. */
  busy: boolean;
}

export interface MaintenanceState {
  enabled: boolean;
  message: string;
  updatedAt: string | null;
}

export const CONNECTIONS_EVENTS = {
  update: 'connections:update',
  presence: 'presence',
  /** Sent to a socket just before an admin disconnects it. */
  kicked: 'kicked',
} as const;

const isoDate = z
  .string({ error: 'must be an ISO date' })
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date such as 2026-11-21 or 2026-11-21T10:00:00Z')
  .transform((s) => new Date(s));
const uuid = z.uuid({ error: 'must be a uuid' });
const intIn = (min: number, max: number, dflt: number) =>
  z
    .string({ error: 'must be a whole number' })
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be from ${min} to ${max}`)
    .optional()
    .transform((n) => n ?? dflt);

const paging = { page: intIn(1, 1_000_000, 1), pageSize: intIn(1, PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT), from: isoDate.optional(), to: isoDate.optional() };

export const PagingQuerySchema = z.strictObject({ page: paging.page, pageSize: paging.pageSize });
export type PagingQuery = z.output<typeof PagingQuerySchema>;

export const ConnectionsQuerySchema = z.strictObject({
  state: z.enum(['active', 'closed', 'all'], { error: 'must be active, closed or all' }).optional().transform((s) => s ?? 'all'),
  kind: z.enum(CONNECTION_KINDS, { error: 'must be operator or vehicle' }).optional(),
  userId: uuid.optional(),
  vehicleId: uuid.optional(),
  ...paging,
});
export const AuthEventsQuerySchema = z.strictObject({
  outcome: z.enum(AUTH_OUTCOMES, { error: `must be one of ${AUTH_OUTCOMES.join(', ')}` }).optional(),
  email: z.string().max(254).optional(),
  userId: uuid.optional(),
  ...paging,
});
export const MaintenanceSchema = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }),
  message: z.string({ error: 'must be a string' }).trim().max(500, 'must be at most 500 characters').optional(),
});

export type ConnectionsQuery = z.output<typeof ConnectionsQuerySchema>;
export type AuthEventsQuery = z.output<typeof AuthEventsQuerySchema>;
export type MaintenanceRequest = z.input<typeof MaintenanceSchema>;
