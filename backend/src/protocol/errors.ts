import { z } from 'zod';

/** Stable codes of a field's problem, for clients that word it in their own language (`limit` where one applies). */
export const FIELD_ERROR_CODES = ['required', 'too-short', 'too-long', 'too-small', 'too-big', 'not-integer', 'invalid-email', 'invalid-type', 'unknown-field', 'mismatch', 'invalid'] as const;
export type FieldErrorCode = (typeof FIELD_ERROR_CODES)[number];

export const ApiFieldErrorSchema = z
  .strictObject({ field: z.string(), message: z.string(), code: z.enum(FIELD_ERROR_CODES).optional(), limit: z.number().optional() })
  .meta({ id: 'FieldError' });
export type ApiFieldError = z.infer<typeof ApiFieldErrorSchema>;

/** The body of every HTTP error the API answers. */
export const ApiErrorBodySchema = z
  .strictObject({
    statusCode: z.number().int(),
    code: z.string().meta({ description: 'A stable code for clients to word the error in their language: see API_ERROR_CODES, or the status’s default' }),
    error: z.string().meta({ description: 'The HTTP status text' }),
    message: z.string().meta({ description: 'What went wrong; for a 400, every bad field as "field: problem"' }),
    details: z.array(ApiFieldErrorSchema).optional().meta({ description: 'For a 400: each bad field and its problem' }),
  })
  .meta({ id: 'Error' });
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;

/**
 * Every HTTP error's `code`: a specific one where the server names the case, else the status's default. The
 * message stays English and may change; the code does not.
 */
export const API_ERROR_CODES = {
  400: 'invalid-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  409: 'conflict',
  408: 'request-timeout',
  413: 'too-large',
  415: 'unsupported-media-type',
  416: 'range-not-satisfiable',
  429: 'throttled',
  431: 'headers-too-large',
  500: 'internal',
  503: 'unavailable',
} as const;
export type SpecificErrorCode = 'bad-credentials' | 'account-disabled' | 'email-taken' | 'last-admin' | 'vehicle-name-taken' | 'token-limit' | 'token-cannot' | 'maintenance' | 'database-busy' | 'database-unavailable' | 'cross-site' | 'bad-url' | 'token-scope';

export function defaultErrorCode(status: number): string {
  return (API_ERROR_CODES as Record<number, string>)[status] ?? (status >= 500 ? 'internal' : 'error');
}
