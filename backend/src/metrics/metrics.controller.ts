import { Controller, ForbiddenException, Get, Req, Res, UnauthorizedException } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isIP } from 'node:net';
import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken } from '../auth/auth.guard.js';
import { Public } from '../auth/decorators.js';
import { MetricsService } from './metrics.service.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6. */
export function isLoopback(ip: string): boolean {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return ip === '::1';
}

/**
 * Without METRICS_TOKEN, a scrape must come from this machine: the connection itself from a loopback address (a
 * header cannot fake that), and, when it came through a trusted proxy, the client that proxy names too.
 */
export function isLocalScrape(socketAddress: string | undefined, clientIp: string): boolean {
  return socketAddress !== undefined && isLoopback(socketAddress) && isLoopback(clientIp);
}

/**
 * GET /metrics for Prometheus (outside /api: it is not the product's API, and scrapers expect the path). Not a user
 * route: with METRICS_TOKEN set it takes that bearer token; without it, only clients on this machine (isLocalScrape).
 */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Public()
  @Get()
  async scrape(@Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    const token = this.metrics.config.metricsToken;
    if (token) {
      const given = bearerToken(req) ?? '';
      if (!timingSafeEqual(digest(given), digest(token))) throw new UnauthorizedException('metrics need the METRICS_TOKEN bearer token');
    } else if (!isLocalScrape(req.socket.remoteAddress, req.ip)) {
      throw new ForbiddenException('metrics are served to this machine only; set METRICS_TOKEN to scrape from elsewhere');
    }
    reply.header('Content-Type', this.metrics.contentType).header('Cache-Control', 'no-store');
    return this.metrics.render();
  }
}
