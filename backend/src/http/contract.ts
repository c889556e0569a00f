import { HttpCode } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { z } from 'zod';
import { IS_PUBLIC, REQUIRED_PERMISSION } from '../auth/decorators.js';
import { ApiErrorBodySchema, fieldErrors, summarize, type Permission } from '../protocol/index.js';

/** The error statuses an operation may answer beyond the ones its shape implies (400, 401, 403, 404, 415). */
type ExtraError = 400 | 401 | 409 | 429 | 503;

/** What one HTTP operation takes and answers; the OpenAPI document is generated from these and the zod schemas. */
export interface ContractSpec {
  summary: string;
  description?: string;
  /** The JSON body's schema; `bodyOptional` when an empty body is allowed. */
  body?: z.ZodType;
  bodyOptional?: boolean;
  query?: z.ZodObject;
  params?: z.ZodObject;
  /** The success answer: a schema (JSON), 'csv', 'mcap' (a file, with Range), or null for no body. */
  response: z.ZodType | 'csv' | 'mcap' | null;
  status?: number;
  /** A resource named in the path may not exist (404). */
  notFound?: boolean;
  /** Refused for reasons other than a missing permission (403), e.g. "only your own account". */
  forbidden?: string;
  errors?: ExtraError[];
  /** HEAD answers like GET, without a body. */
  head?: boolean;
  responseHeaders?: Record<string, string>;
  /** Other answers with a body of their own (not the error shape), e.g. health's 503. */
  alsoAnswers?: Record<number, { description: string; schema: z.ZodType }>;
}

interface Registered extends ContractSpec {
  target: object;
  method: string;
}

const EXTRA_ERRORS: Record<ExtraError, string> = {
  400: 'the request cannot be served as sent (the message says why)',
  401: 'the credentials or token are not valid',
  409: 'conflicts with the current state',
  429: 'too many attempts; see Retry-After',
  503: 'the server is closed for maintenance (the message says so)',
};

const DATABASE_BUSY =
  'the database stayed busy with conflicting changes (code `database-busy`), or cannot be reached (code `database-unavailable`): nothing was written, send it again after Retry-After';

const CONTRACTS = new Map<string, Registered>();

/**
 * Declares an operation's contract: the validation pipe parses with these schemas and the OpenAPI document is
 * written from them, so a payload's shape is stated once. Every route must have one (the document refuses to build
 * otherwise).
 */
export function Contract(spec: ContractSpec): MethodDecorator {
  return (target, key, descriptor) => {
    const method = String(key);
    CONTRACTS.set(`${target.constructor.name}_${method}`, { ...spec, target: target.constructor, method });
    Reflect.defineMetadata(CONTRACT, spec, descriptor.value as object);
    if (spec.status) HttpCode(spec.status)(target, key, descriptor);
  };
}

export const CONTRACT = 'vicer:contract';

export function contractOf(handler: object): ContractSpec | undefined {
  return Reflect.getMetadata(CONTRACT, handler) as ContractSpec | undefined;
}

/** Parses a request part with its contract schema: the parsed value, or a 400 naming every bad field. */
export function parsePart(schema: z.ZodType, value: unknown, part: 'body' | 'query' | 'params'): { ok: true; value: unknown } | { ok: false; message: string; details: { field: string; message: string }[] } {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const details = fieldErrors(result.error).map((d) => (d.field === '(payload)' ? { ...d, field: `(${part})` } : d));
  return { ok: false, message: summarize(details), details };
}

type Json = Record<string, any>;
const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

/** The zod schemas with an id, as OpenAPI 3.0 components (inputs as clients send them). */
function components(): Record<string, Json> {
  const out = z.toJSONSchema(z.globalRegistry, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
    override: (ctx) => tidy(ctx.jsonSchema as Json),
  }) as { schemas: Record<string, Json> };
  for (const s of Object.values(out.schemas)) delete s.$id;
  return out.schemas;
}

/** OpenAPI 3.0 has no $schema/$id; an integer documented over a string pattern drops the pattern. */
function tidy(s: Json): void {
  delete s.$schema;
  delete s.$id;
  if (s.type === 'integer') delete s.pattern;
  // OpenAPI 3.0 applies nullable only beside a type, never to a $ref: a nullable reference is "that, or null".
  if (s.nullable && !s.type && Array.isArray(s.allOf) && s.allOf.length === 1) {
    s.anyOf = [s.allOf[0], { type: 'object', nullable: true, enum: [null] }];
    delete s.allOf;
    delete s.nullable;
  }
}

/** One schema (not in the registry) as OpenAPI, e.g. a query parameter. */
function inline(schema: z.ZodType): Json {
  const s = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'any', override: (ctx) => tidy(ctx.jsonSchema as Json) }) as Json;
  tidy(s);
  return s;
}

/** A registered schema as a $ref, any other inline. */
function schemaOf(schema: z.ZodType): Json {
  const id = z.globalRegistry.get(schema)?.id;
  return id ? ref(id) : inline(schema);
}

function isOptional(schema: z.ZodType): boolean {
  return schema.safeParse(undefined).success;
}

/**
 * Completes the document @nestjs/swagger explored (paths and methods) from the contracts: parameters, request
 * bodies, every response with its schema, security. Throws if a route has no contract.
 */
export function completeDocument(doc: Json): Json {
  const schemas = components();
  schemas.Error = schemas.Error ?? inline(ApiErrorBodySchema);
  const errorResponse = (status: number, description: string) => ({ description: `${STATUS_CODES[status]}: ${description}`, content: { 'application/json': { schema: ref('Error') } } });
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    for (const verb of Object.keys(item)) {
      const op = item[verb];
      const c = CONTRACTS.get(op.operationId);
      if (!c) throw new Error(`no @Contract for ${verb.toUpperCase()} ${path} (${op.operationId})`);
      const handler = (c.target as { prototype: Record<string, object> }).prototype[c.method];
      const isPublic = Reflect.getMetadata(IS_PUBLIC, handler) ?? Reflect.getMetadata(IS_PUBLIC, c.target);
      const permission = (Reflect.getMetadata(REQUIRED_PERMISSION, handler) ?? Reflect.getMetadata(REQUIRED_PERMISSION, c.target)) as Permission | undefined;
      const area = (c.target as { name: string }).name.replace(/Controller$/, '');
      const next: Json = { operationId: area[0].toLowerCase() + area.slice(1) + c.method[0].toUpperCase() + c.method.slice(1), summary: c.summary, tags: op.tags };
      const notes = [c.description, permission ? `Needs the \`${permission}\` permission (admins).` : undefined].filter(Boolean);
      if (notes.length) next.description = notes.join('\n\n');
      const parameters: Json[] = [];
      for (const [where, schema] of [['path', c.params], ['query', c.query]] as const) {
        if (!schema) continue;
        for (const [name, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
          const s = inline(field);
          const p: Json = { name, in: where, required: where === 'path' || !isOptional(field), schema: s };
          if (s.description) p.description = s.description;
          parameters.push(p);
        }
      }
      if (parameters.length) next.parameters = parameters;
      if (c.body) next.requestBody = { required: !c.bodyOptional, content: { 'application/json': { schema: schemaOf(c.body) } } };
      next.security = isPublic ? [] : [{ bearer: [] }];
      const status = c.status ?? (verb === 'post' ? 201 : 200);
      const responses: Json = {};
      const headers = c.responseHeaders ? Object.fromEntries(Object.entries(c.responseHeaders).map(([h, d]) => [h, { description: d, schema: { type: 'string' } }])) : undefined;
      if (c.response === null) responses[status] = { description: STATUS_CODES[status] };
      else if (c.response === 'csv') responses[status] = { description: 'CSV (RFC 4180), streamed', content: { 'text/csv': { schema: { type: 'string' } } } };
      else if (c.response === 'mcap') {
        responses[status] = { description: 'The MCAP file, streamed', content: { 'application/x-mcap': { schema: { type: 'string', format: 'binary' } } } };
        responses[206] = { description: 'The requested byte range (Range: bytes=a-b)', content: { 'application/x-mcap': { schema: { type: 'string', format: 'binary' } } } };
        responses[416] = { description: 'The range is outside the file (Content-Range: bytes */size)', content: { 'application/json': { schema: ref('Error') } } };
      }
      else responses[status] = { description: STATUS_CODES[status], content: { 'application/json': { schema: schemaOf(c.response) } } };
      if (headers) responses[status].headers = headers;
      if (c.body || c.query || c.params || c.errors?.includes(400)) responses[400] = errorResponse(400, [c.body || c.query || c.params ? 'a field is missing or invalid; `details` names each' : '', c.errors?.includes(400) ? EXTRA_ERRORS[400] : ''].filter(Boolean).join('; or '));
      if (!isPublic) responses[401] = errorResponse(401, 'no valid bearer token');
      const refusals = [permission ? `needs the ${permission} permission` : '', c.forbidden ?? ''];
      if (['post', 'put', 'patch', 'delete'].includes(verb)) refusals.push('a browser request from another site whose origin is not in CORS_ORIGINS');
      if (!isPublic) refusals.push('an API token without the scope this needs (`token-scope`), or one that may never do it (`token-cannot`)');
      if (refusals.some(Boolean)) responses[403] = errorResponse(403, refusals.filter(Boolean).join('; or '));
      if (c.notFound) responses[404] = errorResponse(404, 'no such resource');
      if (c.body) responses[413] = errorResponse(413, 'the body is larger than 1 MiB');
      if (c.body) responses[415] = errorResponse(415, 'the body is not JSON (Content-Type: application/json)');
      for (const e of c.errors ?? []) if (e !== 400) responses[e] = errorResponse(e, EXTRA_ERRORS[e]);
      // Any request may meet a unit of database work that conflicted through every retry (PostgreSQL); it wrote nothing.
      if (!c.alsoAnswers?.[503]) {
        const why = [c.errors?.includes(503) ? EXTRA_ERRORS[503] : '', DATABASE_BUSY].filter(Boolean).join('; or ');
        responses[503] = { ...errorResponse(503, why), headers: { 'Retry-After': { description: 'With `database-busy` or `database-unavailable`: seconds to wait before sending the request again', schema: { type: 'integer' } } } };
      }
      for (const [code, a] of Object.entries(c.alsoAnswers ?? {})) responses[code] = { description: a.description, content: { 'application/json': { schema: schemaOf(a.schema) } } };
      next.responses = responses;
      item[verb] = next;
      if (c.head) {
        item.head = { ...next, operationId: `${next.operationId}Head`, summary: `${c.summary} (headers only)`, responses: { [status]: { description: STATUS_CODES[status], headers } } };
      }
    }
  }
  doc.components = { ...doc.components, schemas };
  return doc;
}
