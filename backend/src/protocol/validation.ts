import type { z } from 'zod';
import type { ApiFieldError, FieldErrorCode } from './errors.js';

/** Flattens a zod error into "field: message" pairs; the first one names the field in the summary message. */
export function fieldErrors(error: z.ZodError): ApiFieldError[] {
  const out: ApiFieldError[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ field: [...issue.path, key].join('.'), message: 'unknown field', code: 'unknown-field' });
      }
      continue;
    }
    out.push({ field: issue.path.length ? issue.path.join('.') : '(payload)', message: issue.message, ...codeOf(issue) });
  }
  return out;
}

/** A zod issue's stable code and limit, for clients that word it themselves. */
function codeOf(issue: z.core.$ZodIssue): { code: FieldErrorCode; limit?: number } {
  const i = issue as { code: string; message: string; origin?: string; minimum?: number | bigint; maximum?: number | bigint; format?: string; expected?: string };
  // Issues do not keep their input: a missing field is told by the words fields.ts gives it.
  if (i.code === 'invalid_type') return i.message === 'is required' ? { code: 'required' } : i.expected === 'int' ? { code: 'not-integer' } : { code: 'invalid-type' };
  if (i.code === 'too_small') return { code: i.origin === 'string' ? 'too-short' : 'too-small', limit: Number(i.minimum) };
  if (i.code === 'too_big') return { code: i.origin === 'string' ? 'too-long' : 'too-big', limit: Number(i.maximum) };
  if (i.code === 'invalid_format' && i.format === 'email') return { code: 'invalid-email' };
  return { code: 'invalid' };
}

export function summarize(errors: ApiFieldError[]): string {
  return errors.map((e) => `${e.field}: ${e.message}`).join('; ');
}

/** How big and how deep a JSON payload may be before anything walks, parses or serializes it. */
export interface PayloadBounds {
  /** Its size as JSON text, in UTF-16 code units (what JSON.stringify(...).length would give). */
  maxBytes: number;
  /** Nesting levels, the payload itself being level 1. */
  maxDepth: number;
}

/**
 * Checks a value received as JSON against `bounds` without recursion, so no payload — however deep — can exhaust the
 * stack. Only JSON values pass: plain objects, arrays, strings, finite numbers, booleans and null; binary data, where
 * JSON is expected, does not. Returns null when the value is within bounds, else what is wrong with it.
 */
export function checkBounds(value: unknown, bounds: PayloadBounds): string | null {
  const stack: unknown[] = [value];
  const depths: number[] = [1];
  let size = 0;
  while (stack.length) {
    const v = stack.pop();
    const depth = depths.pop()!;
    if (depth > bounds.maxDepth) return `nests deeper than ${bounds.maxDepth} levels`;
    if (v === null) size += 4;
    else if (typeof v === 'string') {
      if (v.length > bounds.maxBytes) return tooLarge(bounds);
      size += jsonStringLength(v);
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return 'holds a number that is not finite';
      size += String(v).length;
    } else if (typeof v === 'boolean') size += v ? 4 : 5;
    else if (Array.isArray(v)) {
      size += 2 + Math.max(0, v.length - 1);
      if (size > bounds.maxBytes) return tooLarge(bounds);
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push(v[i]);
        depths.push(depth + 1);
      }
    } else if (typeof v === 'object' && isPlainObject(v)) {
      const keys = Object.keys(v);
      size += 2 + Math.max(0, keys.length - 1);
      for (const key of keys) {
        if (key.length > bounds.maxBytes) return tooLarge(bounds);
        size += jsonStringLength(key) + 1;
      }
      if (size > bounds.maxBytes) return tooLarge(bounds);
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push((v as Record<string, unknown>)[keys[i]]);
        depths.push(depth + 1);
      }
    } else if (typeof v === 'object' && (ArrayBuffer.isView(v) || v instanceof ArrayBuffer)) return 'holds binary data where JSON is expected';
    else return `holds ${typeof v === 'object' ? 'an object that is not plain JSON' : `a value of type ${typeof v}`}`;
    if (size > bounds.maxBytes) return tooLarge(bounds);
  }
  return null;
}

function tooLarge(bounds: PayloadBounds): string {
  return `is too large (at most ${bounds.maxBytes} bytes as JSON)`;
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** The length of JSON.stringify(s) without building it. */
function jsonStringLength(s: string): number {
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x0c || c === 0x0a || c === 0x0d || c === 0x09) n += 2;
    else if (c < 0x20) n += 6;
    else if (c >= 0xd800 && c <= 0xdfff) {
      // A lone surrogate is escaped as \uXXXX; a valid pair is written as is.
      const pair = c <= 0xdbff ? s.charCodeAt(i + 1) : -1;
      if (pair >= 0xdc00 && pair <= 0xdfff) {
        n += 2;
        i++;
      } else n += 6;
    } else n += 1;
  }
  return n;
}

/**
 * The deepest nesting of a JSON text, found by scanning it once (strings skipped), so an HTTP body can be refused
 * before JSON.parse and everything after it sees it. Returns Infinity as soon as `limit` is passed.
 */
export function jsonTextDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return Infinity;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
