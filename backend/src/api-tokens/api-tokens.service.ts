import { ConflictException, ForbiddenException, Injectable, NotFoundException } from '@nestjs/common';
import { randomBytes, randomUUID } from 'node:crypto';
import { IsNull, MoreThan } from 'typeorm';
import { sha256 } from '../auth/auth.service.js';
import type { Principal } from '../auth/decorators.js';
import { DatabaseService } from '../database/database.service.js';
import { API_TOKEN_PREFIX, API_TOKENS_PER_USER, can, grantableScopes, parseTokenScopes, TOKEN_SCOPES, type ApiTokenView, type CreatedApiToken, type TokenScope } from '../protocol/index.js';
import { User } from '../users/user.entity.js';
import { ApiToken } from './api-token.entity.js';

const DAY_MS = 24 * 60 * 60 * 1000;

@Injectable()
export class ApiTokensService {
  constructor(private readonly db: DatabaseService) {}

  /** Makes a token for the caller; the secret is in this answer only. */
  async create(caller: Principal, name: string, expiresInDays: number, scopes: TokenScope[]): Promise<CreatedApiToken> {
    assertSignedIn(caller);
    const grantable = grantableScopes(caller.role);
    const beyond = scopes.filter((s) => !grantable.includes(s));
    if (beyond.length) throw new ForbiddenException({ message: `Your role cannot give a token the ${beyond.join(', ')} scope`, code: 'token-scope' });
    const secret = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const now = new Date();
    const row: ApiToken = {
      id: randomUUID(),
      userId: caller.userId,
      name,
      prefix: secret.slice(0, API_TOKEN_PREFIX.length + 6),
      scopes: TOKEN_SCOPES.filter((s) => scopes.includes(s)).join(','),
      tokenHash: sha256(secret),
      createdAt: now,
      expiresAt: new Date(now.getTime() + expiresInDays * DAY_MS),
      lastUsedAt: null,
      revokedAt: null,
    };
    const owner = await this.db.transaction(async (m) => {
      const user = await m.findOneBy(User, { id: caller.userId });
      if (!user) throw new NotFoundException('User not found');
      const live = await m.countBy(ApiToken, { userId: caller.userId, revokedAt: IsNull(), expiresAt: MoreThan(now) });
      if (live >= API_TOKENS_PER_USER) throw new ConflictException({ message: `At most ${API_TOKENS_PER_USER} live API tokens per account: revoke one first`, code: 'token-limit' });
      await m.insert(ApiToken, row);
      return user;
    });
    return { ...view(row, owner), token: secret };
  }

  /** The unrevoked tokens of one account (expired ones too, marked, until revoked), newest first. */
  async listOwn(caller: Principal): Promise<ApiTokenView[]> {
    return this.list(caller.userId);
  }

  /** Every account's unrevoked tokens, for admins. */
  async listAll(): Promise<ApiTokenView[]> {
    return this.list(null);
  }

  /** Revokes a token: the caller's own, or anyone's for an admin. Unknown and others' tokens are 404 alike. */
  async revoke(caller: Principal, id: string, scope: 'own' | 'any'): Promise<void> {
    if (scope === 'own') assertSignedIn(caller);
    const anyOwner = scope === 'any' && can(caller.role, 'users:manage');
    await this.db.transaction(async (m) => {
      const token = await m.findOneBy(ApiToken, { id, revokedAt: IsNull() });
      if (!token || (!anyOwner && token.userId !== caller.userId)) throw new NotFoundException('API token not found');
      await m.update(ApiToken, { id, revokedAt: IsNull() }, { revokedAt: new Date() });
    });
  }

  private async list(userId: string | null): Promise<ApiTokenView[]> {
    const qb = this.db.dataSource.manager
      .createQueryBuilder(ApiToken, 't')
      .innerJoinAndMapOne('t.owner', User, 'u', 'u.id = t.userId')
      .where('t.revokedAt IS NULL')
      .orderBy('t.createdAt', 'DESC');
    if (userId) qb.andWhere('t.userId = :userId', { userId });
    const rows = (await qb.getMany()) as (ApiToken & { owner: User })[];
    return rows.map((r) => view(r, r.owner));
  }
}

/** A leaked script token must not mint or revoke tokens: that needs a signed-in session. */
function assertSignedIn(caller: Principal): void {
  if (caller.apiTokenId) throw new ForbiddenException({ message: 'API tokens cannot manage API tokens; sign in to do that', code: 'token-cannot' });
}

function view(t: ApiToken, owner: User): ApiTokenView {
  return {
    id: t.id,
    name: t.name,
    prefix: t.prefix,
    createdAt: t.createdAt.toISOString(),
    expiresAt: t.expiresAt.toISOString(),
    lastUsedAt: t.lastUsedAt ? t.lastUsedAt.toISOString() : null,
    expired: t.expiresAt.getTime() <= Date.now(),
    scopes: parseTokenScopes(t.scopes),
    owner: { id: owner.id, email: owner.email, name: owner.name },
  };
}
