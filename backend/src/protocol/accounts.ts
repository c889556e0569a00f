import { z } from 'zod';
import { bool, wants, isoDateTime, oneOf, text, tooLong } from './fields.js';
import { ROLES } from './permissions.js';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;
export const NAME_MAX = 80;
export const EMAIL_MAX = 254;
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const REFRESH_TOKEN_TTL_SECONDS = 7 * 24 * 60 * 60;
/** A refresh token rotated less than this long ago returns its successor again instead of counting as reuse. */
export const REFRESH_GRACE_SECONDS = 10;
export const REFRESH_TOKEN_MAX = 256;
export const REFRESH_COOKIE = 'vicer_refresh';

const email = z
  .string({ error: wants('must be a string') })
  .trim()
  .max(EMAIL_MAX, tooLong(EMAIL_MAX))
  .pipe(z.email('must be a valid email address'))
  .transform((e) => e.toLowerCase())
  .meta({ format: 'email' });
const password = text({ min: PASSWORD_MIN, max: PASSWORD_MAX });
const name = text({ min: 1, max: NAME_MAX, trim: true });
const role = oneOf(ROLES);

export const SignupSchema = z.strictObject({ email, password, name: name.optional() }).meta({ id: 'SignupRequest' });
export const LoginSchema = z.strictObject({ email, password: text({ min: 1, max: PASSWORD_MAX }) }).meta({ id: 'LoginRequest' });
export const RefreshSchema = z
  .strictObject({ refreshToken: text({ min: 1, max: REFRESH_TOKEN_MAX }).optional() })
  .meta({ id: 'RefreshRequest', description: 'The refresh token; without it (or with an empty body) the vicer_refresh cookie is used.' });
export const CreateUserSchema = z.strictObject({ email, password, name: name.optional(), role }).meta({ id: 'CreateUserRequest' });
export const UpdateUserSchema = z
  .strictObject({
    email: email.optional(),
    name: name.optional(),
    password: password.optional(),
    currentPassword: text({ max: PASSWORD_MAX }).optional(),
    role: role.optional(),
    disabled: bool().optional(),
  })
  .meta({ id: 'UpdateUserRequest', description: 'Every field is optional; role and disabled are for admins; your own password change needs currentPassword.' });

export type SignupRequest = z.input<typeof SignupSchema>;
export type LoginRequest = z.input<typeof LoginSchema>;
export type CreateUserRequest = z.input<typeof CreateUserSchema>;
export type UpdateUserRequest = z.input<typeof UpdateUserSchema>;

/** A user as every API answer shows it: never a hash nor a token. */
export const UserViewSchema = z
  .strictObject({
    id: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    disabled: z.boolean(),
    createdAt: isoDateTime(),
    updatedAt: isoDateTime(),
    lastLoginAt: isoDateTime().nullable(),
  })
  .meta({ id: 'UserView' });
export type UserView = z.infer<typeof UserViewSchema>;

export const TokenPairSchema = z
  .strictObject({
    accessToken: z.string(),
    refreshToken: z.string(),
    tokenType: z.literal('Bearer'),
    /** Seconds until the access token expires. */
    expiresIn: z.number().int().meta({ description: 'Seconds until the access token expires' }),
    user: UserViewSchema,
  })
  .meta({ id: 'TokenPair' });
export type TokenPair = z.infer<typeof TokenPairSchema>;

export const LogoutEverywhereSchema = z
  .strictObject({ tokensRevoked: z.number().int().meta({ description: 'API tokens of the account that were revoked with its sessions' }) })
  .meta({ id: 'LogoutEverywhere' });
export type LogoutEverywhere = z.infer<typeof LogoutEverywhereSchema>;

export const HealthViewSchema = z
  .strictObject({
    status: z.enum(['ok', 'degraded']),
    version: z.string(),
    uptimeSeconds: z.number().int(),
    db: z.enum(['up', 'down']),
    /** `off`: one process, no Redis; `down`: shared state unreachable (status degraded, no new driver locks). */
    redis: z.enum(['off', 'up', 'down']),
    instance: z.string(),
  })
  .meta({ id: 'Health' });
export type HealthView = z.infer<typeof HealthViewSchema>;

export const AUTH_OUTCOMES = ['success', 'bad-credentials', 'throttled', 'disabled', 'refresh-reuse', 'refresh-failed', 'logout', 'maintenance'] as const;
export type AuthOutcome = (typeof AUTH_OUTCOMES)[number];
