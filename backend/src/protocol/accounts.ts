import { z } from 'zod';
import { ROLES, type Role } from './permissions.js';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;
export const NAME_MAX = 80;
export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60;
export const REFRESH_TOKEN_TTL_SECONDS = 7 * 24 * 60 * 60;
export const REFRESH_COOKIE = 'vicer_refresh';

const email = z
  .string({ error: 'must be a string' })
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be a valid email address'))
  .transform((e) => e.toLowerCase());
const password = z
  .string({ error: 'must be a string' })
  .min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`)
  .max(PASSWORD_MAX, `must be at most ${PASSWORD_MAX} characters`);
const name = z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').max(NAME_MAX, `must be at most ${NAME_MAX} characters`);
const role = z.enum(ROLES, { error: `must be one of: ${ROLES.join(', ')}` });

export const SignupSchema = z.strictObject({ email, password, name: name.optional() });
export const LoginSchema = z.strictObject({ email, password: z.string({ error: 'must be a string' }).min(1, 'is required').max(PASSWORD_MAX) });
export const RefreshSchema = z.strictObject({ refreshToken: z.string({ error: 'must be a string' }).min(1).max(256).optional() });
export const CreateUserSchema = z.strictObject({ email, password, name: name.optional(), role });
export const UpdateUserSchema = z.strictObject({
  email: email.optional(),
  name: name.optional(),
  password: password.optional(),
  currentPassword: z.string({ error: 'must be a string' }).max(PASSWORD_MAX).optional(),
  role: role.optional(),
  disabled: z.boolean({ error: 'must be true or false' }).optional(),
});

export type SignupRequest = z.input<typeof SignupSchema>;
export type LoginRequest = z.input<typeof LoginSchema>;
export type CreateUserRequest = z.input<typeof CreateUserSchema>;
export type UpdateUserRequest = z.input<typeof UpdateUserSchema>;

/** A user as every API answer shows it: never a hash nor a token. */
export interface UserView {
  id: string;
  email: string;
  name: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
  lastLoginAt: string | null;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  /** Seconds until the access token expires. */
  expiresIn: number;
  user: UserView;
}

export interface HealthView {
  status: 'ok' | 'degraded';
  version: string;
  uptimeSeconds: number;
  db: 'up' | 'down';
}

export const AUTH_OUTCOMES = ['success', 'bad-credentials', 'throttled', 'disabled', 'refresh-reuse', 'refresh-failed', 'logout', 'maintenance'] as const;
export type AuthOutcome = (typeof AUTH_OUTCOMES)[number];
