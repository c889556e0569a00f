import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/decorators.js';
import { VERSION } from '../config/paths.js';
import { DatabaseService } from '../database/database.service.js';
import type { HealthView } from '../protocol/index.js';

@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly started = Date.now();

  constructor(private readonly db: DatabaseService) {}

  /** HEAD answers the same status and headers with no body (Fastify derives it from this GET). */
  @Public()
  @Get()
  @ApiOperation({ summary: 'Server status; HEAD gives the same status with X-Uptime-Seconds and X-Version headers' })
  async health(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthView> {
    const uptimeSeconds = Math.floor((Date.now() - this.started) / 1000);
    const up = await this.db.ping();
    reply.header('X-Uptime-Seconds', String(uptimeSeconds)).header('X-Version', VERSION).header('Cache-Control', 'no-store');
    if (!up) reply.status(503);
    return { status: up ? 'ok' : 'degraded', version: VERSION, uptimeSeconds, db: up ? 'up' : 'down' };
  }
}
