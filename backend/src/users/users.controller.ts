import { Body, Controller, Delete, Get, Param, Post, Put } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { CurrentUser, ForTokenScope, RequirePermission, type Principal } from '../auth/decorators.js';
import { Contract } from '../http/contract.js';
import { CreateUserSchema, IdParamsSchema, UpdateUserSchema, UserViewSchema, type UserView } from '../protocol/index.js';
import { UsersService } from './users.service.js';

const UserListSchema = z.array(UserViewSchema).meta({ id: 'UserList' });

@ApiTags('users')
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @Contract({ summary: 'An admin gets every user; a user gets an array holding only themself', response: UserListSchema })
  list(@CurrentUser() caller: Principal): Promise<UserView[]> {
    return this.users.list(caller);
  }

  @Get('me')
  @Contract({ summary: 'The signed-in account', response: UserViewSchema })
  me(@CurrentUser() caller: Principal): Promise<UserView> {
    return this.users.get(caller, caller.userId);
  }

  @Get(':id')
  @Contract({ summary: 'One account: your own, or any for an admin', params: IdParamsSchema, response: UserViewSchema, notFound: true, forbidden: 'another user’s account, for a non-admin' })
  get(@CurrentUser() caller: Principal, @Param() { id }: { id: string }): Promise<UserView> {
    return this.users.get(caller, id);
  }

  @Post()
  @RequirePermission('users:manage')
  @Contract({ summary: 'Create an account of any role', body: CreateUserSchema, response: UserViewSchema, status: 201, errors: [409] })
  create(@CurrentUser() caller: Principal, @Body() body: z.output<typeof CreateUserSchema>): Promise<UserView> {
    return this.users.createAs(caller, body);
  }

  @Put(':id')
  @ForTokenScope('account')
  @Contract({
    summary: 'Edit an account: self or admin',
    description:
      'Role and disabled are admin-only; your own password change needs currentPassword; a new password signs out the account’s other sessions and revokes its API tokens, and so does disabling it. 409 for a taken email or when the last admin would be demoted or disabled. An API token (scope account for your own, users:manage for others) may change only names and disable non-admins.',
    params: IdParamsSchema,
    body: UpdateUserSchema,
    response: UserViewSchema,
    notFound: true,
    forbidden: 'another user’s account, or a role or disabled change, for a non-admin',
    errors: [409],
  })
  update(@CurrentUser() caller: Principal, @Param() { id }: { id: string }, @Body() body: z.output<typeof UpdateUserSchema>): Promise<UserView> {
    return this.users.update(caller, id, body);
  }

  @Delete(':id')
  @RequirePermission('users:manage')
  @Contract({ summary: 'Delete an account and end its sessions (409 for the last admin)', params: IdParamsSchema, response: null, status: 204, notFound: true, errors: [409] })
  remove(@CurrentUser() caller: Principal, @Param() { id }: { id: string }): Promise<void> {
    return this.users.remove(caller, id);
  }
}
