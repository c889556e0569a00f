import { BadRequestException, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { Observable } from 'rxjs';
import type { z } from 'zod';
import { contractOf, parsePart } from './contract.js';

/**
 * Validates each request against its route's @Contract before the handler runs (after the auth guard, so an
 * anonymous caller gets 401 before any 400): path parameters, query and JSON body are replaced by their parsed
 * values, or the request ends with a 400 that names every bad field.
 */
@Injectable()
export class ContractInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const contract = contractOf(context.getHandler());
    if (!contract) return next.handle();
    const req = context.switchToHttp().getRequest<FastifyRequest & { params: unknown; query: unknown; body: unknown }>();
    if (contract.params) req.params = check(contract.params, req.params ?? {}, 'params');
    if (contract.query) req.query = check(contract.query, req.query ?? {}, 'query');
    if (contract.body) {
      // No body at all (or an empty one) reads as {}: missing fields are named; a JSON null or array is not an object.
      const body = req.body === undefined ? {} : req.body;
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new BadRequestException({ message: '(body): must be a JSON object', details: [{ field: '(body)', message: 'must be a JSON object' }] });
      }
      req.body = check(contract.body, body, 'body');
    }
    return next.handle();
  }
}

function check(schema: z.ZodType, value: unknown, part: 'body' | 'query' | 'params'): unknown {
  const r = parsePart(schema, value, part);
  if (r.ok) return r.value;
  throw new BadRequestException({ message: r.message, details: r.details });
}
