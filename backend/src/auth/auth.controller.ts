import { Body, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { REFRESH_COOKIE, REFRESH_TOKEN_TTL_SECONDS, type TokenPair, type UserView } from '../protocol/index.js';
import { UsersService } from '../users/users.service.js';
import { AuthService } from './auth.service.js';
import { Client, CurrentUser, Public, type ClientInfo, type Principal } from './decorators.js';
import { LoginDto, RefreshDto, SignupDto } from './dto/auth.dto.js';

const COOKIE_PATH = '/api/auth';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService, private readonly users: UsersService) {}

  @Public()
  @Post('signup')
  @ApiOperation({ summary: 'Create an account (role user)' })
  signup(@Body() body: SignupDto): Promise<UserView> {
    return this.users.create({ ...body, role: 'user' });
  }

  @Public()
  @Post('login')
  @HttpCode(200)
  @ApiOperation({ summary: 'Sign in: access token (15 min) and rotating refresh token (7 days, also as an HttpOnly cookie)' })
  async login(@Body() body: LoginDto, @Client() client: ClientInfo, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenPair> {
    const pair = await this.auth.login(body, client);
    setRefreshCookie(req, reply, pair.refreshToken);
    return pair;
  }

  @Public()
  @Post('refresh')
  @HttpCode(200)
  @ApiOperation({ summary: 'Trade a refresh token (body or cookie) for a new pair; reuse of a rotated token revokes the session' })
  async refresh(@Body() body: RefreshDto, @Client() client: ClientInfo, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenPair> {
    const token = body.refreshToken ?? req.cookies?.[REFRESH_COOKIE];
    try {
      const pair = await this.auth.refresh(token, client);
      setRefreshCookie(req, reply, pair.refreshToken);
      return pair;
    } catch (err) {
      reply.clearCookie(REFRESH_COOKIE, { path: COOKIE_PATH });
      throw err;
    }
  }

  @Post('logout')
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Revoke the current session' })
  async logout(@CurrentUser() user: Principal, @Client() client: ClientInfo, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    await this.auth.logout(user, client);
    reply.clearCookie(REFRESH_COOKIE, { path: COOKIE_PATH });
  }
}

function setRefreshCookie(req: FastifyRequest, reply: FastifyReply, token: string): void {
  reply.setCookie(REFRESH_COOKIE, token, {
    path: COOKIE_PATH,
    httpOnly: true,
    sameSite: 'strict',
    secure: req.protocol === 'https',
    maxAge: REFRESH_TOKEN_TTL_SECONDS,
  });
}
