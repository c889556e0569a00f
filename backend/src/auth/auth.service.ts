import { BadRequestException, HttpStatus, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectRepository } from '@nestjs/typeorm';
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { IsNull, type Repository } from 'typeorm';
import { DatabaseService } from '../database/database.service.js';
import { HttpErrorWithHeaders } from '../http/api-exception.filter.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { ACCESS_TOKEN_TTL_SECONDS, API_TOKEN_PREFIX, API_TOKEN_TOUCH_SECONDS, REFRESH_GRACE_SECONDS, REFRESH_TOKEN_MAX, REFRESH_TOKEN_TTL_SECONDS, type AuthOutcome, type LoginRequest, type Role, type TokenPair, parseTokenScopes } from '../protocol/index.js';
import { ApiToken } from '../api-tokens/api-token.entity.js';
import { User, toUserView } from '../users/user.entity.js';
import { Vehicle } from '../vehicles/vehicle.entity.js';
import { AuthEvents } from './auth-events.js';
import type { ClientInfo, Principal, SocketPrincipal, VehiclePrincipal } from './decorators.js';
import { LOGIN_THROTTLE, type LoginThrottleStore } from './login-throttle.js';
import { PasswordService } from './password.service.js';
import { RefreshToken, Session } from './session.entity.js';

export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const BAD_CREDENTIALS = 'Invalid email or password';

/**
 * Whether a new session (sign-in, sign-up, refresh) of someone with this role — null before the account exists —
 * may start now; a string refuses with that message. Maintenance mode plugs in here.
 */
export type SessionGate = (role: Role | null) => string | null;

/** The one authentication path: HTTP requests and socket handshakes are verified by verifyAccessToken. */
@Injectable()
export class AuthService {
  private gate: SessionGate = () => null;
  /** Derives a refresh token's successor, so a token rotated moments ago yields the same one again. */
  private readonly successorKey: Buffer;

  constructor(
    private readonly jwt: JwtService,
    private readonly passwords: PasswordService,
    private readonly db: DatabaseService,
    private readonly events: AuthEvents,
    private readonly metrics: MetricsService,
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(Session) private readonly sessions: Repository<Session>,
    @InjectRepository(RefreshToken) private readonly tokens: Repository<RefreshToken>,
    @InjectRepository(Vehicle) private readonly vehicles: Repository<Vehicle>,
    @InjectRepository(ApiToken) private readonly apiTokens: Repository<ApiToken>,
    @Inject(CONFIG) config: AppConfig,
    @Inject(LOGIN_THROTTLE) private readonly throttle: LoginThrottleStore,
  ) {
    this.successorKey = createHmac('sha256', config.jwtSecret).update('vicer refresh successor').digest();
  }

  setSessionGate(gate: SessionGate): void {
    this.gate = gate;
  }

  /** Refuses with 503 and the gate's message when sessions of this role may not start now. */
  assertOpen(role: Role | null): void {
    const refused = this.gate(role);
    if (refused) throw new HttpErrorWithHeaders(HttpStatus.SERVICE_UNAVAILABLE, refused, {}, 'maintenance');
  }

  async login(req: Required<LoginRequest>, client: ClientInfo): Promise<TokenPair> {
    const email = req.email.toLowerCase();
    const key = `${client.ip ?? '-'}|${email}`;
    const wait = await this.throttle.retryAfter(key).catch(() => 0);
    if (wait > 0) {
      this.record('throttled', client, email, null);
      throw new HttpErrorWithHeaders(HttpStatus.TOO_MANY_REQUESTS, `Too many failed sign-ins; try again in ${wait} s`, { 'Retry-After': String(wait) });
    }
    const user = await this.users.findOneBy({ email });
    const ok = user ? await this.passwords.verify(user.passwordHash, req.password) : await this.passwords.burn(req.password);
    if (!user || !ok) {
      await this.throttle.fail(key).catch(() => undefined);
      this.record('bad-credentials', client, email, user?.id ?? null);
      throw new UnauthorizedException({ message: BAD_CREDENTIALS, code: 'bad-credentials' });
    }
    if (user.disabled) {
      this.record('disabled', client, email, user.id);
      throw new UnauthorizedException({ message: 'This account is disabled', code: 'account-disabled' });
    }
    if (this.gate(user.role)) {
      this.record('maintenance', client, email, user.id);
      this.assertOpen(user.role);
    }
    await this.throttle.reset(key).catch(() => undefined);
    const now = new Date();
    const session = this.sessions.create({
      id: randomUUID(),
      userId: user.id,
      ip: client.ip,
      userAgent: client.userAgent,
      lastUsedAt: now,
      expiresAt: new Date(now.getTime() + REFRESH_TOKEN_TTL_SECONDS * 1000),
      revokedAt: null,
      revokedReason: null,
    });
    const refreshToken = newRefreshToken();
    await this.db.transaction(async (m) => {
      await m.save(session);
      await m.insert(RefreshToken, { id: randomUUID(), sessionId: session.id, tokenHash: sha256(refreshToken), rotatedAt: null });
      await m.update(User, { id: user.id }, { lastLoginAt: now, updatedAt: () => '"updatedAt"' });
    });
    user.lastLoginAt = now;
    this.record('success', client, email, user.id);
    return this.pair(user, session.id, refreshToken);
  }

  /**
   * Rotates a refresh token. Its successor is derived from it (an HMAC under the server's key), so the same token
   * presented again within REFRESH_GRACE_SECONDS of its rotation — two tabs refreshing at once — gets the same
   * successor; presented later, it was stolen or replayed, and the whole session is revoked.
   */
  async refresh(token: string | undefined, client: ClientInfo): Promise<TokenPair> {
    if (!token) throw new UnauthorizedException('No refresh token');
    let found = token.length <= REFRESH_TOKEN_MAX ? await this.tokens.findOneBy({ tokenHash: sha256(token) }) : null;
    if (!found) {
      this.record('refresh-failed', client, null, null);
      throw new UnauthorizedException('Invalid refresh token');
    }
    const session = await this.sessions.findOneBy({ id: found.sessionId });
    if (!session || session.revokedAt || session.expiresAt.getTime() < Date.now()) {
      this.record('refresh-failed', client, null, session?.userId ?? null);
      throw new UnauthorizedException('Session expired or revoked');
    }
    const user = await this.users.findOneBy({ id: session.userId });
    if (!user || user.disabled) {
      await this.revokeSessions(session.userId, 'disabled', [session.id]);
      this.record('disabled', client, user?.email ?? null, session.userId);
      throw new UnauthorizedException({ message: 'This account is disabled', code: 'account-disabled' });
    }
    if (this.gate(user.role)) {
      this.record('maintenance', client, user.email, user.id);
      this.assertOpen(user.role);
    }
    const next = this.successorOf(token);
    if (!found.rotatedAt) {
      const now = new Date();
      const rotated = await this.db.transaction(async (m) => {
        // Conditional update: of two refreshes racing with one token, exactly one rotates it.
        const res = await m.update(RefreshToken, { id: found!.id, rotatedAt: IsNull() }, { rotatedAt: now });
        if (!res.affected) return false;
        await m.insert(RefreshToken, { id: randomUUID(), sessionId: session.id, tokenHash: sha256(next), rotatedAt: null });
        await m.update(Session, { id: session.id }, { lastUsedAt: now, ip: client.ip, userAgent: client.userAgent });
        return true;
      });
      if (rotated) return this.pair(user, session.id, next);
      found = (await this.tokens.findOneBy({ id: found.id }))!;
    }
    if (found.rotatedAt && Date.now() - found.rotatedAt.getTime() <= REFRESH_GRACE_SECONDS * 1000) return this.pair(user, session.id, next);
    await this.revokeSessions(session.userId, 'refresh-reuse', [session.id]);
    this.record('refresh-reuse', client, user.email, user.id);
    throw new UnauthorizedException('Refresh token reused; the session was revoked');
  }

  async logout(principal: Principal, client: ClientInfo): Promise<void> {
    if (principal.apiTokenId) throw new BadRequestException({ message: 'An API token has no session to sign out; revoke the token instead', code: 'token-cannot' });
    await this.revokeSessions(principal.userId, 'logout', [principal.sessionId]);
    this.record('logout', client, principal.email, principal.userId);
  }

  /** Signs the caller out everywhere: every session (this one too) and every API token of the account. */
  async logoutEverywhere(principal: Principal, client: ClientInfo): Promise<{ tokensRevoked: number }> {
    if (principal.apiTokenId) throw new BadRequestException({ message: 'An API token cannot sign its account out everywhere; sign in to do that', code: 'token-cannot' });
    const tokensRevoked = await this.revokeApiTokens(principal.userId);
    await this.revokeSessions(principal.userId, 'logout-everywhere');
    this.record('logout', client, principal.email, principal.userId);
    return { tokensRevoked };
  }

  /**
   * Revokes every live API token of an account: what ends its sessions (a new password, disabling it, signing out
   * everywhere) ends its tokens too, so a token minted from a stolen session does not outlive the remedy.
   */
  async revokeApiTokens(userId: string): Promise<number> {
    const res = await this.db.transaction((m) => m.update(ApiToken, { userId, revokedAt: IsNull() }, { revokedAt: new Date() }));
    return res.affected ?? 0;
  }

  /** Revokes the given sessions of a user, or all of them, and tells live sockets to close. */
  async revokeSessions(userId: string, reason: string, sessionIds?: string[], exceptSessionId?: string): Promise<void> {
    const qb = this.sessions
      .createQueryBuilder()
      .update(Session)
      .set({ revokedAt: new Date(), revokedReason: reason })
      .where('userId = :userId AND revokedAt IS NULL', { userId });
    if (sessionIds) qb.andWhere('id IN (:...sessionIds)', { sessionIds });
    if (exceptSessionId) qb.andWhere('id != :exceptSessionId', { exceptSessionId });
    await qb.execute();
    this.events.emit('revoked', { userId, sessionIds, reason });
  }

  /** An HTTP bearer: a personal API token (`vct_…`) or an access token. */
  verifyBearer(token: string | undefined | null): Promise<Principal> {
    return token?.startsWith(API_TOKEN_PREFIX) ? this.verifyApiToken(token) : this.verifyAccessToken(token);
  }

  /** Checks an access token (HTTP bearer or socket handshake) against its live session and account. */
  async verifyAccessToken(token: string | undefined | null): Promise<Principal> {
    if (!token) throw new UnauthorizedException('Missing bearer token');
    if (token.startsWith(API_TOKEN_PREFIX)) throw new UnauthorizedException('API tokens are for the REST API; sign in for a live connection');
    let payload: { sub?: unknown; sid?: unknown; exp?: unknown };
    try {
      payload = await this.jwt.verifyAsync(token, { algorithms: ['HS256'] });
    } catch (err) {
      throw new UnauthorizedException((err as Error).name === 'TokenExpiredError' ? 'token expired' : 'invalid token');
    }
    // A token without an expiry would never die: refused like a forged one.
    if (typeof payload?.sub !== 'string' || typeof payload.sid !== 'string' || typeof payload.exp !== 'number') throw new UnauthorizedException('invalid token');
    const row = await this.sessions
      .createQueryBuilder('s')
      .innerJoin(User, 'u', 'u.id = s.userId')
      .select(['s.revokedAt AS "revokedAt"', 'u.id AS "id"', 'u.email AS "email"', 'u.name AS "name"', 'u.role AS "role"', 'u.disabled AS "disabled"'])
      .where('s.id = :sid AND s.userId = :sub', { sid: payload.sid, sub: payload.sub })
      .getRawOne<{ revokedAt: unknown; id: string; email: string; name: string; role: Principal['role']; disabled: unknown }>();
    if (!row || row.revokedAt) throw new UnauthorizedException('session revoked');
    if (row.disabled === true || row.disabled === 1 || row.disabled === '1') throw new UnauthorizedException({ message: 'This account is disabled', code: 'account-disabled' });
    return { userId: row.id, sessionId: payload.sid, email: row.email, name: row.name, role: row.role, exp: payload.exp as number };
  }

  /** A personal API token: live (not revoked, not expired) and its owner's account enabled; acts with the owner's role. */
  async verifyApiToken(token: string): Promise<Principal> {
    if (token.length > 128) throw new UnauthorizedException('invalid API token');
    const row = await this.apiTokens
      .createQueryBuilder('t')
      .innerJoin(User, 'u', 'u.id = t.userId')
      .select(['t.id AS "tokenId"', 't.expiresAt AS "expiresAt"', 't.revokedAt AS "revokedAt"', 't.lastUsedAt AS "lastUsedAt"', 't.scopes AS "scopes"'])
      .addSelect(['u.id AS "id"', 'u.email AS "email"', 'u.name AS "name"', 'u.role AS "role"', 'u.disabled AS "disabled"'])
      .where('t.tokenHash = :hash', { hash: sha256(token) })
      .getRawOne<{ tokenId: string; expiresAt: unknown; revokedAt: unknown; lastUsedAt: unknown; scopes: string; id: string; email: string; name: string; role: Principal['role']; disabled: unknown }>();
    if (!row || row.revokedAt) throw new UnauthorizedException('API token revoked or unknown');
    const expiresAt = asDate(row.expiresAt);
    if (expiresAt.getTime() <= Date.now()) throw new UnauthorizedException('API token expired');
    if (row.disabled === true || row.disabled === 1 || row.disabled === '1') throw new UnauthorizedException({ message: 'This account is disabled', code: 'account-disabled' });
    const lastUsed = row.lastUsedAt == null ? 0 : asDate(row.lastUsedAt).getTime();
    if (Date.now() - lastUsed >= API_TOKEN_TOUCH_SECONDS * 1000) {
      await this.db.transaction((m) => m.update(ApiToken, { id: row.tokenId }, { lastUsedAt: new Date() }));
    }
    return {
      userId: row.id,
      sessionId: `api-token:${row.tokenId}`,
      email: row.email,
      name: row.name,
      role: row.role,
      exp: Math.floor(expiresAt.getTime() / 1000),
      apiTokenId: row.tokenId,
      tokenScopes: parseTokenScopes(row.scopes),
    };
  }

  async verifyVehicleToken(token: string | undefined | null): Promise<VehiclePrincipal> {
    if (!token || token.length > 256) throw new UnauthorizedException('invalid vehicle token');
    const vehicle = await this.vehicles.findOneBy({ tokenHash: sha256(token) });
    if (!vehicle) throw new UnauthorizedException('invalid vehicle token');
    return { kind: 'vehicle', vehicleId: vehicle.id, name: vehicle.name, tokenHash: vehicle.tokenHash };
  }

  /** A socket handshake's `auth`: exactly one of a user's access token or a vehicle token. */
  async verifyHandshake(auth: unknown): Promise<SocketPrincipal> {
    const a = (auth ?? {}) as { token?: unknown; vehicleToken?: unknown };
    if (typeof a.token === 'string' && a.vehicleToken === undefined) return { kind: 'user', ...(await this.verifyAccessToken(a.token)) };
    if (typeof a.vehicleToken === 'string' && a.token === undefined) return this.verifyVehicleToken(a.vehicleToken);
    throw new UnauthorizedException('unauthorized');
  }

  private successorOf(token: string): string {
    return createHmac('sha256', this.successorKey).update(token).digest('base64url');
  }

  private async pair(user: User, sessionId: string, refreshToken: string): Promise<TokenPair> {
    const accessToken = await this.jwt.signAsync({ sub: user.id, sid: sessionId }, { expiresIn: ACCESS_TOKEN_TTL_SECONDS, algorithm: 'HS256' });
    return { accessToken, refreshToken, tokenType: 'Bearer', expiresIn: ACCESS_TOKEN_TTL_SECONDS, user: toUserView(user) };
  }

  private record(outcome: AuthOutcome, client: ClientInfo, email: string | null, userId: string | null): void {
    this.metrics.authEvents.inc({ outcome });
    this.events.emit('auth', { at: new Date(), email, userId, ip: client.ip, userAgent: client.userAgent, outcome });
  }
}

/** A raw date column: a Date (PostgreSQL) or the driver's text (SQLite, stored as UTC). */
function asDate(v: unknown): Date {
  if (v instanceof Date) return v;
  const s = String(v);
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : s.replace(' ', 'T') + 'Z');
}

function newRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}
