import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { Permission, Role, TokenScope } from '../protocol/index.js';

export const IS_PUBLIC = 'vicer:public';
export const REQUIRED_PERMISSION = 'vicer:permission';

/** Opts a route out of the global bearer check. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

/** The route needs this permission of the role → permission map (403 otherwise). */
export const RequirePermission = (permission: Permission) => SetMetadata(REQUIRED_PERMISSION, permission);

export const TOKEN_SCOPE = 'vicer:token-scope';

/**
 * The scope an API token needs for a write route that requires no permission (a route with a permission needs that
 * permission as its scope; a GET needs `read`). A write route without either refuses API tokens.
 */
export const ForTokenScope = (scope: TokenScope) => SetMetadata(TOKEN_SCOPE, scope);

/** Who is calling: set by the auth guard on HTTP requests and by the gateway on sockets. */
export interface Principal {
  userId: string;
  sessionId: string;
  email: string;
  name: string;
  role: Role;
  /** Access-token expiry, epoch seconds. */
  exp: number;
  /** Set when a personal API token authenticated the call (REST only); sessionId is then `api-token:<id>`. */
  apiTokenId?: string;
  /** That token's scopes. */
  tokenScopes?: TokenScope[];
}

export interface VehiclePrincipal {
  kind: 'vehicle';
  vehicleId: string;
  name: string;
  /** Lets a token rotation find and close the sockets that used the old token. */
  tokenHash: string;
}

/** Who is on the other end of a relay socket. */
export type SocketPrincipal = ({ kind: 'user' } & Principal) | VehiclePrincipal;

export const CurrentUser = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => ctx.switchToHttp().getRequest().user);

/** Where a call comes from, for session records and the auth log. */
export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

export const Client = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): ClientInfo => {
    const req = ctx.switchToHttp().getRequest();
    return { ip: req.ip ?? null, userAgent: (req.headers['user-agent'] as string | undefined)?.slice(0, 512) ?? null };
  },
);
