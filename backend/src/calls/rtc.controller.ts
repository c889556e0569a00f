import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { createHmac } from 'node:crypto';
import { CurrentUser, RequirePermission, type Principal } from '../auth/decorators.js';
import { CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { Contract } from '../http/contract.js';
import { CallsPageSchema, PagingQuerySchema, RtcConfigSchema, type CallView, type Page, type PagingQuery, type RtcConfig } from '../protocol/index.js';
import { CallsService } from './calls.service.js';

/** TURN credentials the way coturn's REST-API mode (use-auth-secret) checks them. */
export function turnCredentials(secret: string, userId: string, ttlSeconds: number, now = Date.now()): { username: string; credential: string } {
  const username = `${Math.floor(now / 1000) + ttlSeconds}:${userId}`;
  return { username, credential: createHmac('sha1', secret).update(username).digest('base64') };
}

@ApiTags('calls')
@Controller()
export class RtcController {
  constructor(@Inject(CONFIG) private readonly config: AppConfig, private readonly calls: CallsService) {}

  @Get('rtc/config')
  @Contract({ summary: 'ICE servers for face chat: STUN_URLS, and TURN with static or time-limited (TURN_SECRET) credentials', response: RtcConfigSchema })
  rtcConfig(@CurrentUser() user: Principal): RtcConfig {
    const { stunUrls, turnUrls, turnSecret, turnUsername, turnCredential, turnTtlSeconds } = this.config.rtc;
    const iceServers: RtcConfig['iceServers'] = [];
    if (stunUrls.length) iceServers.push({ urls: stunUrls });
    if (turnUrls.length) {
      const creds = turnSecret ? turnCredentials(turnSecret, user.userId, turnTtlSeconds) : { username: turnUsername!, credential: turnCredential! };
      iceServers.push({ urls: turnUrls, ...creds });
    }
    return { iceServers };
  }

  @Get('calls')
  @RequirePermission('connections:manage')
  @Contract({ summary: 'The call log: caller, callee, start, answer, end, reason, duration; newest first', query: PagingQuerySchema, response: CallsPageSchema })
  list(@Query() q: PagingQuery): Promise<Page<CallView>> {
    return this.calls.list(q.page, q.pageSize);
  }
}
