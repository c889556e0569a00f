import { ForbiddenException, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { can, type Permission, type TokenScope } from '../protocol/index.js';
import { AuthService } from './auth.service.js';
import { IS_PUBLIC, REQUIRED_PERMISSION, TOKEN_SCOPE, type Principal } from './decorators.js';

/** The token of an `Authorization: Bearer …` header, if there is one. */
export function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

/** Global: every HTTP route needs a valid bearer unless marked @Public(); permissions come from the one map. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(private readonly reflector: Reflector, private readonly auth: AuthService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const req = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    req.user = await this.auth.verifyBearer(bearerToken(req));
    const permission = this.reflector.getAllAndOverride<Permission | undefined>(REQUIRED_PERMISSION, targets);
    if (permission && !can(req.user.role, permission)) throw new ForbiddenException(`Needs the ${permission} permission`);
    if (req.user.apiTokenId) {
      const safe = req.method === 'GET' || req.method === 'HEAD';
      const needs = safe ? 'read' : (permission ?? this.reflector.getAllAndOverride<TokenScope | undefined>(TOKEN_SCOPE, targets));
      assertTokenScope(req.user, needs);
    }
    return true;
  }
}

/** An API token may do only what its scopes name (`needs` undefined: no token may call it). Sessions pass. */
export function assertTokenScope(caller: Principal, needs: TokenScope | Permission | undefined): void {
  if (!caller.apiTokenId) return;
  if (!needs) throw new ForbiddenException({ message: 'API tokens cannot call this route; sign in to do that', code: 'token-cannot' });
  if (!(caller.tokenScopes ?? []).includes(needs as TokenScope)) throw new ForbiddenException({ message: `This API token lacks the ${needs} scope`, code: 'token-scope' });
}
