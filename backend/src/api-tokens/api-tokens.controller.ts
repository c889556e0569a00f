import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { CurrentUser, ForTokenScope, RequirePermission, type Principal } from '../auth/decorators.js';
import { Contract } from '../http/contract.js';
import { ApiTokenListSchema, CreateApiTokenSchema, CreatedApiTokenSchema, IdParamsSchema, type ApiTokenView, type CreatedApiToken } from '../protocol/index.js';
import { ApiTokensService } from './api-tokens.service.js';

const SIGNED_IN_ONLY = 'when called with an API token (tokens are managed from a signed-in session)';

@ApiTags('api-tokens')
@Controller()
export class ApiTokensController {
  constructor(private readonly tokens: ApiTokensService) {}

  @Post('users/me/tokens')
  @Contract({
    summary: 'Make a personal API token: the secret is in this answer only',
    description:
      'The token calls the REST API as you, within your role and its scopes (read only unless you name more), until it expires or is revoked: `Authorization: Bearer vct_…`. Whatever its scopes, a token never creates, promotes, disables or deletes an admin, changes a password, email or role, signs out everywhere, or manages API tokens. Changing your password, being disabled and signing out everywhere revoke your tokens.',
    body: CreateApiTokenSchema,
    response: CreatedApiTokenSchema,
    status: 201,
    forbidden: SIGNED_IN_ONLY,
    errors: [409],
  })
  create(@CurrentUser() caller: Principal, @Body() body: z.output<typeof CreateApiTokenSchema>): Promise<CreatedApiToken> {
    return this.tokens.create(caller, body.name, body.expiresInDays, body.scopes);
  }

  @Get('users/me/tokens')
  @Contract({ summary: 'Your API tokens that are not revoked (expired ones are marked), newest first', response: ApiTokenListSchema })
  listOwn(@CurrentUser() caller: Principal): Promise<ApiTokenView[]> {
    return this.tokens.listOwn(caller);
  }

  @Delete('users/me/tokens/:id')
  @Contract({ summary: 'Revoke one of your API tokens', params: IdParamsSchema, response: null, status: 204, notFound: true, forbidden: SIGNED_IN_ONLY })
  revokeOwn(@CurrentUser() caller: Principal, @Param() { id }: { id: string }): Promise<void> {
    return this.tokens.revoke(caller, id, 'own');
  }

  @Get('tokens')
  @RequirePermission('users:manage')
  @Contract({ summary: 'Every account’s API tokens that are not revoked, newest first', response: ApiTokenListSchema })
  listAll(): Promise<ApiTokenView[]> {
    return this.tokens.listAll();
  }

  @Delete('tokens/:id')
  @RequirePermission('users:manage')
  @ForTokenScope('users:manage')
  @Contract({ summary: 'Revoke anyone’s API token', params: IdParamsSchema, response: null, status: 204, notFound: true })
  revokeAny(@CurrentUser() caller: Principal, @Param() { id }: { id: string }): Promise<void> {
    return this.tokens.revoke(caller, id, 'any');
  }
}
