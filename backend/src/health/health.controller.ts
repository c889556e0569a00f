import { Controller, Get, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../auth/decorators.js';
import { VERSION } from '../config/paths.js';
import { ClusterService } from '../cluster/cluster.service.js';
import { DatabaseService } from '../database/database.service.js';
import { Contract } from '../http/contract.js';
import { HealthViewSchema, type HealthView } from '../protocol/index.js';

@ApiTags('health')
@Controller('health')
export class HealthController {
  private readonly started = Date.now();

  constructor(private readonly db: DatabaseService, private readonly cluster: ClusterService) {}

  /** HEAD answers the same status and headers with no body (Fastify derives it from this GET). */
  @Public()
  @Get()
  @Contract({
    summary: 'Server status (503 when the database does not answer)',
    response: HealthViewSchema,
    head: true,
    alsoAnswers: { 503: { description: 'Service Unavailable: the database does not answer (status "degraded")', schema: HealthViewSchema } },
    responseHeaders: { 'X-Uptime-Seconds': 'Seconds since the server started', 'X-Version': 'The server version', 'X-Instance': 'Which instance answered (INSTANCE_ID)' },
  })
  async health(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthView> {
    const uptimeSeconds = Math.floor((Date.now() - this.started) / 1000);
    const up = await this.db.ping();
    const redis = this.cluster.redisStatus;
    reply.header('X-Uptime-Seconds', String(uptimeSeconds)).header('X-Version', VERSION).header('X-Instance', this.cluster.instanceId).header('Cache-Control', 'no-store');
    // Without its database the instance cannot serve; without Redis it serves, but nobody can take new controls.
    if (!up) reply.status(503);
    return { status: up && redis !== 'down' ? 'ok' : 'degraded', version: VERSION, uptimeSeconds, db: up ? 'up' : 'down', redis, instance: this.cluster.instanceId };
  }
}
