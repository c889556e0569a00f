import type { z } from 'zod';
import type { ApiFieldError } from './errors.js';

/** Flattens a zod error into "field: message" pairs; the first one names the field in the summary message. */
export function fieldErrors(error: z.ZodError): ApiFieldError[] {
  const out: ApiFieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ field: [...issue.path, key].join('.'), message: 'unknown field' });
      }
      continue;
    }
    out.push({ field: issue.path.length ? issue.path.join('.') : '(payload)', message: issue.message });
  }
  return out;
}

export function summarize(errors: ApiFieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}
