import { Controller, Delete, Get, Param, Query, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Readable } from 'node:stream';
import { RequirePermission } from '../auth/decorators.js';
import { Contract } from '../http/contract.js';
import {
  AuthEventsPageSchema,
  AuthEventsQuerySchema,
  ConnectionsPageSchema,
  ConnectionsQuerySchema,
  IdParamsSchema,
  type AuthEventsQuery,
  type AuthEventView,
  type ConnectionsQuery,
  type ConnectionView,
  type Page,
} from '../protocol/index.js';
import { ConnectionsService } from './connections.service.js';

function sendCsv(reply: FastifyReply, name: string, stream: Readable): void {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  reply
    .header('Content-Type', 'text/csv; charset=utf-8')
    .header('Content-Disposition', `attachment; filename="${name}-${stamp}.csv"`)
    .header('Cache-Control', 'no-store')
    .send(stream);
}

const CSV_HEADERS = { 'Content-Disposition': 'attachment; filename="<name>-<time>.csv"' };

@ApiTags('connections')
@RequirePermission('connections:manage')
@Controller()
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  @Get('connections')
  @Contract({ summary: 'Socket sessions of operators and vehicles, newest first', query: ConnectionsQuerySchema, response: ConnectionsPageSchema })
  list(@Query() q: ConnectionsQuery): Promise<Page<ConnectionView>> {
    return this.connections.list(q);
  }

  @Get('connections/export.csv')
  @Contract({ summary: 'The same filters as CSV (RFC 4180, formula cells defused), streamed', query: ConnectionsQuerySchema, response: 'csv', responseHeaders: CSV_HEADERS })
  export(@Query() q: ConnectionsQuery, @Res() reply: FastifyReply): void {
    sendCsv(reply, 'connections', this.connections.exportCsv(q));
  }

  @Delete('connections/:id')
  @Contract({ summary: 'Kick: disconnect an active session (reason "kicked")', params: IdParamsSchema, response: null, status: 204, notFound: true })
  kick(@Param() { id }: { id: string }): Promise<void> {
    return this.connections.kick(id);
  }

  @Get('auth-events')
  @Contract({ summary: 'Sign-ins, refresh failures and sign-outs, newest first', query: AuthEventsQuerySchema, response: AuthEventsPageSchema })
  authEvents(@Query() q: AuthEventsQuery): Promise<Page<AuthEventView>> {
    return this.connections.listAuthEvents(q);
  }

  @Get('auth-events/export.csv')
  @Contract({ summary: 'The same filters as CSV, streamed', query: AuthEventsQuerySchema, response: 'csv', responseHeaders: CSV_HEADERS })
  exportAuthEvents(@Query() q: AuthEventsQuery, @Res() reply: FastifyReply): void {
    sendCsv(reply, 'auth-events', this.connections.exportAuthEventsCsv(q));
  }
}
