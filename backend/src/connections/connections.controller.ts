import { Controller, Delete, Get, HttpCode, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { Readable } from 'node:stream';
import { RequirePermission } from '../auth/decorators.js';
import type { AuthEventView, ConnectionView, Page } from '../protocol/index.js';
import { ConnectionsService } from './connections.service.js';
import { AuthEventsQueryDto, ConnectionsQueryDto } from './dto/connections.dto.js';

function sendCsv(reply: FastifyReply, name: string, stream: Readable): void {
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  reply
    .header('Content-Type', 'text/csv; charset=utf-8')
    .header('Content-Disposition', `attachment; filename="${name}-${stamp}.csv"`)
    .header('Cache-Control', 'no-store')
    .send(stream);
}

@ApiTags('connections')
@ApiBearerAuth()
@RequirePermission('connections:manage')
@Controller()
export class ConnectionsController {
  constructor(private readonly connections: ConnectionsService) {}

  @Get('connections')
  @ApiOperation({ summary: 'Socket sessions of operators and vehicles, newest first' })
  list(@Query() q: ConnectionsQueryDto): Promise<Page<ConnectionView>> {
    return this.connections.list(q);
  }

  @Get('connections/export.csv')
  @ApiOperation({ summary: 'The same filters as CSV (RFC 4180, formula cells defused), streamed' })
  export(@Query() q: ConnectionsQueryDto, @Res() reply: FastifyReply): void {
    sendCsv(reply, 'connections', this.connections.exportCsv(q));
  }

  @Delete('connections/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Kick: disconnect an active session (reason "kicked")' })
  kick(@Param('id') id: string): void {
    this.connections.kick(id);
  }

  @Get('auth-events')
  @ApiOperation({ summary: 'Sign-ins, refresh failures and sign-outs, newest first' })
  authEvents(@Query() q: AuthEventsQueryDto): Promise<Page<AuthEventView>> {
    return this.connections.listAuthEvents(q);
  }

  @Get('auth-events/export.csv')
  exportAuthEvents(@Query() q: AuthEventsQueryDto, @Res() reply: FastifyReply): void {
    sendCsv(reply, 'auth-events', this.connections.exportAuthEventsCsv(q));
  }
}
