import { z } from 'zod';
import { int, isoDateTime, text } from './fields.js';
import { TOKEN_SCOPES, TOKEN_SCOPES_DEFAULT } from './permissions.js';

/** Personal API tokens: scripts call the REST API as their owner, within the owner's role and the token's scopes. */
export const API_TOKEN_PREFIX = 'vct_';
export const API_TOKEN_NAME_MAX = 64;
export const API_TOKEN_DAYS_MAX = 365;
export const API_TOKEN_DAYS_DEFAULT = 30;
/** Live (unrevoked, unexpired) tokens one account may hold. */
export const API_TOKENS_PER_USER = 50;
/** The last-used time is written at most this often per token: a script's every call must not be a write. */
export const API_TOKEN_TOUCH_SECONDS = 60;

export const CreateApiTokenSchema = z
  .strictObject({
    name: text({ min: 1, max: API_TOKEN_NAME_MAX, trim: true }),
    expiresInDays: int(1, API_TOKEN_DAYS_MAX).optional().default(API_TOKEN_DAYS_DEFAULT),
    scopes: z
      .array(z.enum(TOKEN_SCOPES, { error: `must be one of ${TOKEN_SCOPES.join(', ')}` }))
      .min(1, 'must name at least one scope')
      .max(TOKEN_SCOPES.length)
      .optional()
      .default([...TOKEN_SCOPES_DEFAULT])
      .transform((l) => [...new Set(l)]),
  })
  .meta({
    id: 'CreateApiTokenRequest',
    description: `expiresInDays: 1–${API_TOKEN_DAYS_MAX}, ${API_TOKEN_DAYS_DEFAULT} when left out. scopes: what the token may do (${TOKEN_SCOPES.join(', ')}); read only when left out; only scopes your role holds.`,
  });
export type CreateApiTokenRequest = z.input<typeof CreateApiTokenSchema>;

export const ApiTokenViewSchema = z
  .strictObject({
    id: z.uuid(),
    name: z.string(),
    /** The token's first characters, to tell tokens apart; never enough to use. */
    prefix: z.string(),
    createdAt: isoDateTime(),
    expiresAt: isoDateTime(),
    lastUsedAt: isoDateTime().nullable().meta({ description: `When the token last authenticated a request (to within ${API_TOKEN_TOUCH_SECONDS} s)` }),
    expired: z.boolean(),
    scopes: z.array(z.enum(TOKEN_SCOPES)),
    owner: z.strictObject({ id: z.uuid(), email: z.string(), name: z.string() }),
  })
  .meta({ id: 'ApiToken' });
export type ApiTokenView = z.infer<typeof ApiTokenViewSchema>;

export const CreatedApiTokenSchema = ApiTokenViewSchema.extend({
  token: z.string().meta({ description: 'The secret, shown this once: send it as `Authorization: Bearer <token>`' }),
}).meta({ id: 'CreatedApiToken' });
export type CreatedApiToken = z.infer<typeof CreatedApiTokenSchema>;

export const ApiTokenListSchema = z.array(ApiTokenViewSchema).meta({ id: 'ApiTokenList' });
