import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { ApiErrorBody } from '../protocol/index.js';

/** An HTTP error that also sets response headers (Retry-After on 429). */
export class HttpErrorWithHeaders extends HttpException {
  constructor(status: number, message: string, readonly headers: Record<string, string>) {
    super({ message }, status);
  }
}

/** Turns anything thrown into the one error shape; unknown errors become a logged 500 without internals. */
export function toErrorBody(exception: unknown): ApiErrorBody {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const res = exception.getResponse();
    const body: ApiErrorBody = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: exception.message };
    if (typeof res === 'string') body.message = res;
    else if (res && typeof res === 'object') {
      const r = res as { message?: unknown; details?: ApiErrorBody['details'] };
      if (typeof r.message === 'string') body.message = r.message;
      else if (Array.isArray(r.message)) body.message = r.message.join('; ');
      if (r.details) body.details = r.details;
    }
    return body;
  }
  const fastifyError = exception as { statusCode?: number; message?: string; code?: string };
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // Fastify's own client errors (malformed JSON, body too large, bad content type).
    const status = fastifyError.statusCode;
    return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: fastifyError.message ?? 'Bad request' };
  }
  return { statusCode: 500, error: STATUS_CODES[500]!, message: 'Internal server error' };
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  constructor(private readonly spaFallback?: (req: FastifyRequest, reply: FastifyReply) => boolean) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const body = toErrorBody(exception);
    if (body.statusCode === HttpStatus.NOT_FOUND && this.spaFallback?.(req, reply)) return;
    if (body.statusCode >= 500) this.logger.error({ err: exception, reqId: req.id }, 'request failed');
    if (exception instanceof HttpErrorWithHeaders) reply.headers(exception.headers);
    reply.status(body.statusCode).type('application/json; charset=utf-8').send(body);
  }
}
