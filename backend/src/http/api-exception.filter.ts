import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { DatabaseBusyError, DatabaseUnavailableError, isDatabaseUnavailable } from '../database/database.service.js';
import { defaultErrorCode, type ApiErrorBody, type SpecificErrorCode } from '../protocol/index.js';

/** An HTTP error that also sets response headers (Retry-After on 429), with its code when it has a specific one. */
export class HttpErrorWithHeaders extends HttpException {
  constructor(status: number, message: string, readonly headers: Record<string, string>, code?: string) {
    super({ message, ...(code ? { code } : {}) }, status);
  }
}

/** Fastify's own client errors, in the API's words. */
const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'The body must be JSON (Content-Type: application/json)',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
  FST_ERR_CTP_BODY_TOO_LARGE: 'The body is larger than 1 MiB',
  FST_ERR_BAD_URL: 'The path is not a valid URL (malformed percent-encoding)',
};

/** Fastify's client errors that have a specific code of the API's. */
const FASTIFY_CODES: Record<string, SpecificErrorCode> = { FST_ERR_BAD_URL: 'bad-url' };

/** Turns anything thrown into the one error shape; unknown errors become a logged 500 without internals. */
export function toErrorBody(exception: unknown): ApiErrorBody {
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const res = exception.getResponse();
    const body: ApiErrorBody = { statusCode: status, code: defaultErrorCode(status), error: STATUS_CODES[status] ?? 'Error', message: exception.message };
    if (typeof res === 'string') body.message = res;
    else if (res && typeof res === 'object') {
      const r = res as { message?: unknown; details?: ApiErrorBody['details']; code?: unknown };
      if (typeof r.message === 'string') body.message = r.message;
      else if (Array.isArray(r.message)) body.message = r.message.join('; ');
      if (r.details) body.details = r.details;
      if (typeof r.code === 'string') body.code = r.code;
    }
    if (status === HttpStatus.UNSUPPORTED_MEDIA_TYPE) body.message = FASTIFY_MESSAGES.FST_ERR_CTP_INVALID_MEDIA_TYPE;
    if (status === HttpStatus.PAYLOAD_TOO_LARGE) body.message = FASTIFY_MESSAGES.FST_ERR_CTP_BODY_TOO_LARGE;
    return body;
  }
  const fastifyError = exception as { statusCode?: number; message?: string; code?: string };
  if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    // Fastify's own client errors (malformed JSON, body too large, bad content type).
    const status = fastifyError.statusCode;
    const message = FASTIFY_MESSAGES[fastifyError.code ?? ''] ?? fastifyError.message ?? 'Bad request';
    return { statusCode: status, code: FASTIFY_CODES[fastifyError.code ?? ''] ?? defaultErrorCode(status), error: STATUS_CODES[status] ?? 'Error', message };
  }
  return { statusCode: 500, code: 'internal', error: STATUS_CODES[500]!, message: 'Internal server error' };
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  constructor(private readonly spaFallback?: (req: FastifyRequest, reply: FastifyReply) => boolean) {}

  catch(thrown: unknown, host: ArgumentsHost): void {
    // A busy or unreachable database wrote nothing: a 503 with Retry-After, through the same path as any error with
    // headers. Neither is a fault of the server's: logged as a warning.
    const exception = asDatabaseError(thrown) ?? thrown;
    const busy = exception !== thrown;
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<FastifyReply>();
    const req = ctx.getRequest<FastifyRequest>();
    const body = toErrorBody(exception);
    if (body.statusCode === HttpStatus.NOT_FOUND && this.spaFallback?.(req, reply)) return;
    // A busy database is logged where it gave up (warn); it is not a fault of the server's.
    if (body.statusCode >= 500 && !busy) this.logger.error({ err: exception, reqId: req.id }, 'request failed');
    else if (busy) this.logger.warn({ err: thrown, reqId: req.id }, body.message);
    if (exception instanceof HttpErrorWithHeaders) reply.headers(exception.headers);
    reply.status(body.statusCode).type('application/json; charset=utf-8').send(body);
  }
}

/** A database that is busy or away, as the 503 it answers; undefined for anything else. */
function asDatabaseError(thrown: unknown): HttpErrorWithHeaders | undefined {
  if (thrown instanceof DatabaseBusyError) {
    return new HttpErrorWithHeaders(503, 'The database is busy with conflicting changes; nothing was written: try again', { 'retry-after': String(thrown.retryAfterS) }, 'database-busy' satisfies SpecificErrorCode);
  }
  if (thrown instanceof DatabaseUnavailableError || (!(thrown instanceof HttpException) && isDatabaseUnavailable(thrown))) {
    return new HttpErrorWithHeaders(503, 'The database cannot be reached right now; nothing was written: try again later', { 'retry-after': '5' }, 'database-unavailable' satisfies SpecificErrorCode);
  }
  return undefined;
}

/**
 * Errors Node's HTTP parser meets before Fastify sees a request (headers too large, a malformed request line), in the
 * API's one error shape with its code, then the connection is closed.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: import('node:stream').Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const message = status === 431 ? 'The request headers are larger than the server accepts (16 KiB)' : status === 408 ? 'The request took too long to arrive' : 'The request is not valid HTTP';
  const body = JSON.stringify({ statusCode: status, code: defaultErrorCode(status), error: STATUS_CODES[status] ?? 'Error', message } satisfies ApiErrorBody);
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
