import { Body, Controller, HttpException, HttpStatus, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Contract } from '../http/contract.js';
import { LoginSchema, LogoutEverywhereSchema, REFRESH_COOKIE, type LogoutEverywhere, REFRESH_TOKEN_TTL_SECONDS, RefreshSchema, SignupSchema, TokenPairSchema, UserViewSchema, type TokenPair, type UserView } from '../protocol/index.js';
import type { z } from 'zod';
import { UsersService } from '../users/users.service.js';
import { AuthService } from './auth.service.js';
import { Client, CurrentUser, ForTokenScope, Public, type ClientInfo, type Principal } from './decorators.js';

const COOKIE_PATH = '/api/auth';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService, private readonly users: UsersService) {}

  @Public()
  @Post('signup')
  @Contract({ summary: 'Create an account (role user)', body: SignupSchema, response: UserViewSchema, status: 201, errors: [409, 503] })
  signup(@Body() body: z.output<typeof SignupSchema>): Promise<UserView> {
    this.auth.assertOpen(null);
    return this.users.create({ ...body, role: 'user' });
  }

  @Public()
  @Post('login')
  @Contract({
    summary: 'Sign in: access token (15 min) and rotating refresh token (7 days, also as an HttpOnly cookie)',
    body: LoginSchema,
    response: TokenPairSchema,
    status: 200,
    errors: [401, 429, 503],
    responseHeaders: { 'Set-Cookie': `${REFRESH_COOKIE}=<refresh token>; Path=${COOKIE_PATH}; HttpOnly; SameSite=Strict` },
  })
  async login(@Body() body: z.output<typeof LoginSchema>, @Client() client: ClientInfo, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenPair> {
    const pair = await this.auth.login(body, client);
    setRefreshCookie(req, reply, pair.refreshToken);
    return pair;
  }

  @Public()
  @Post('refresh')
  @Contract({
    summary: 'Trade a refresh token (body or cookie) for a new pair',
    description:
      'A token presented again within 10 s of its rotation returns the same successor (two tabs refreshing at once); later, it counts as reuse and revokes the session.',
    body: RefreshSchema,
    bodyOptional: true,
    response: TokenPairSchema,
    status: 200,
    errors: [401, 503],
  })
  async refresh(@Body() body: z.output<typeof RefreshSchema>, @Client() client: ClientInfo, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<TokenPair> {
    const token = body.refreshToken ?? req.cookies?.[REFRESH_COOKIE];
    try {
      const pair = await this.auth.refresh(token, client);
      setRefreshCookie(req, reply, pair.refreshToken);
      return pair;
    } catch (err) {
      // A refused token is dropped; a closed server (503) leaves the session for later.
      if (err instanceof HttpException && err.getStatus() === HttpStatus.UNAUTHORIZED) reply.clearCookie(REFRESH_COOKIE, { path: COOKIE_PATH });
      throw err;
    }
  }

  @Post('logout')
  @ForTokenScope('account')
  @Contract({ summary: 'Revoke the current session (400 with an API token: revoke the token instead)', response: null, status: 204, errors: [400] })
  async logout(@CurrentUser() user: Principal, @Client() client: ClientInfo, @Res({ passthrough: true }) reply: FastifyReply): Promise<void> {
    await this.auth.logout(user, client);
    reply.clearCookie(REFRESH_COOKIE, { path: COOKIE_PATH });
  }

  @Post('logout-everywhere')
  @ForTokenScope('account')
  @Contract({
    summary: 'Sign out everywhere: revoke every session of your account (this one too) and every API token of it',
    description: 'Live sockets of those sessions close. Not with an API token (400).',
    response: LogoutEverywhereSchema,
    status: 200,
    errors: [400],
  })
  async logoutEverywhere(@CurrentUser() user: Principal, @Client() client: ClientInfo, @Res({ passthrough: true }) reply: FastifyReply): Promise<LogoutEverywhere> {
    const result = await this.auth.logoutEverywhere(user, client);
    reply.clearCookie(REFRESH_COOKIE, { path: COOKIE_PATH });
    return result;
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
