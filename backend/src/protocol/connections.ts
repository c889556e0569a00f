import { z } from 'zod';
import { AUTH_OUTCOMES } from './accounts.js';
import { bool, wants, isoDateTime, oneOf, text, tooLong, uuid } from './fields.js';

export const CONNECTION_KINDS = ['operator', 'vehicle'] as const;
export type ConnectionKind = (typeof CONNECTION_KINDS)[number];
export const PAGE_SIZE_MAX = 500;
export const PAGE_SIZE_DEFAULT = 50;

/** One socket session of a user (operator) or a vehicle. */
export const ConnectionViewSchema = z
  .strictObject({
    id: z.uuid(),
    kind: z.enum(CONNECTION_KINDS),
    userId: z.uuid().nullable(),
    vehicleId: z.uuid().nullable(),
    name: z.string(),
    /** The server instance that holds (or held) the socket. */
    instanceId: z.string().nullable(),
    ip: z.string().nullable(),
    port: z.number().int().nullable(),
    userAgent: z.string().nullable(),
    connectedAt: isoDateTime(),
    disconnectedAt: isoDateTime().nullable(),
    disconnectReason: z.string().nullable(),
    messagesIn: z.number().int(),
    messagesOut: z.number().int(),
    bytesIn: z.number().int(),
    bytesOut: z.number().int(),
  })
  .meta({ id: 'Connection' });
export type ConnectionView = z.infer<typeof ConnectionViewSchema>;

export const AuthEventViewSchema = z
  .strictObject({
    id: z.uuid(),
    at: isoDateTime(),
    email: z.string().nullable(),
    userId: z.uuid().nullable(),
    ip: z.string().nullable(),
    userAgent: z.string().nullable(),
    outcome: z.enum(AUTH_OUTCOMES),
  })
  .meta({ id: 'AuthEvent' });
export type AuthEventView = z.infer<typeof AuthEventViewSchema>;

const PageMeta = { total: z.number().int(), page: z.number().int(), pageSize: z.number().int() };
/** A page of a list: `items` and where it is in the whole. */
export const pageOf = <T extends z.ZodType>(item: T, id: string) => z.strictObject({ items: z.array(item), ...PageMeta }).meta({ id });
export type Page<T> = { items: T[]; total: number; page: number; pageSize: number };
export const ConnectionsPageSchema = pageOf(ConnectionViewSchema, 'ConnectionsPage');
export const AuthEventsPageSchema = pageOf(AuthEventViewSchema, 'AuthEventsPage');

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

export const MAINTENANCE_MESSAGE_MAX = 500;
export const MaintenanceStateSchema = z
  .strictObject({ enabled: z.boolean(), message: z.string(), updatedAt: isoDateTime().nullable() })
  .meta({ id: 'Maintenance' });
export type MaintenanceState = z.infer<typeof MaintenanceStateSchema>;

export const CONNECTIONS_EVENTS = {
  update: 'connections:update',
  presence: 'presence',
  /** Sent to a socket just before an admin disconnects it. */
  kicked: 'kicked',
} as const;

const isoDate = z
  .string({ error: wants('must be an ISO date') })
  .max(40, tooLong(40))
  .refine((s) => !Number.isNaN(Date.parse(s)), 'must be an ISO date such as 2026-11-21 or 2026-11-21T10:00:00Z')
  .transform((s) => new Date(s))
  .meta({ description: 'An ISO 8601 date (2026-11-21) or date-time (2026-11-21T10:00:00Z)', format: 'date-time' });
/** A whole number in a query string; documented as an integer. */
const intIn = (min: number, max: number, dflt: number) =>
  z
    .string({ error: wants('must be a whole number') })
    .regex(/^\d{1,9}$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be from ${min} to ${max}`)
    .optional()
    .transform((n) => n ?? dflt)
    .meta({ type: 'integer', minimum: min, maximum: max, default: dflt, description: `${min}–${max}, default ${dflt}` });

export const paging = { page: intIn(1, 1_000_000, 1), pageSize: intIn(1, PAGE_SIZE_MAX, PAGE_SIZE_DEFAULT) };
export const period = { from: isoDate.optional(), to: isoDate.optional() };

export const PagingQuerySchema = z.strictObject({ ...paging });
export type PagingQuery = z.output<typeof PagingQuerySchema>;

export const ConnectionsQuerySchema = z.strictObject({
  state: oneOf(['active', 'closed', 'all']).optional().transform((s) => s ?? 'all').meta({ default: 'all', description: 'default all' }),
  kind: oneOf(CONNECTION_KINDS).optional(),
  userId: uuid('user id').optional(),
  vehicleId: uuid('vehicle id').optional(),
  ...paging,
  ...period,
});
export const AuthEventsQuerySchema = z.strictObject({
  outcome: oneOf(AUTH_OUTCOMES).optional(),
  email: text({ max: 254 }).optional(),
  userId: uuid('user id').optional(),
  ...paging,
  ...period,
});
export const MaintenanceSchema = z
  .strictObject({
    enabled: bool(),
    message: text({ max: MAINTENANCE_MESSAGE_MAX, trim: true }).optional(),
  })
  .meta({ id: 'MaintenanceRequest' });

export type ConnectionsQuery = z.output<typeof ConnectionsQuerySchema>;
export type AuthEventsQuery = z.output<typeof AuthEventsQuerySchema>;
export type MaintenanceRequest = z.input<typeof MaintenanceSchema>;
