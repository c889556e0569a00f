import { z } from 'zod';

/**
 * Building blocks of every schema, so that each field error says what is wrong in the same words: "is required"
 * for a missing field, "must be …" for a wrong type, "is too long (at most N characters)" for an over-long one.
 */
type Issue = { input?: unknown };
export const wants = (what: string) => (iss: Issue) => (iss.input === undefined ? 'is required' : what);

export const tooLong = (max: number) => `is too long (at most ${max} characters)`;
export const tooShort = (min: number) => (min === 1 ? 'must not be empty' : `is too short (at least ${min} characters)`);

/** A string of bounded length; `trim` strips spaces before the checks. */
/** C0 controls other than tab, line feed and carriage return; DEL. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/** A UTF-16 surrogate without its pair: not a character, and not valid UTF-8 once stored or sent on. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export function text(opts: { min?: number; max: number; trim?: boolean }) {
  let s = z.string({ error: wants('must be a string') });
  if (opts.trim) s = s.trim();
  if (opts.min) s = s.min(opts.min, tooShort(opts.min));
  return s
    .max(opts.max, tooLong(opts.max))
    .refine((v) => !CONTROL.test(v), 'must not hold control characters (NUL and the like)')
    .refine((v) => !LONE_SURROGATE.test(v), 'must be valid Unicode (no lone surrogates)');
}

/** A uuid in either case, read as lower case: ids are stored and compared in lower case. */
export const uuid = (what = 'id') => z.uuid({ error: wants(`must be a ${what} (uuid)`) }).overwrite((s) => s.toLowerCase());
export const bool = () => z.boolean({ error: wants('must be true or false') });
export const finite = () => z.number({ error: wants('must be a number') }).refine(Number.isFinite, 'must be finite');
export const int = (min: number, max: number) =>
  z
    .number({ error: wants('must be a number') })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: wants(`must be one of: ${values.join(', ')}`) });

/** Response fields: ISO 8601 timestamps as the API writes them. */
export const isoDateTime = () => z.iso.datetime({ offset: true });

/** Path parameters of routes on one resource. */
export const IdParamsSchema = z.strictObject({ id: uuid() });
