import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentUser, RequirePermission, type Principal } from '../auth/decorators.js';
import type { UserView } from '../protocol/index.js';
import { CreateUserDto, UpdateUserDto } from './dto/users.dto.js';
import { UsersService } from './users.service.js';


@ApiTags('users')
@ApiBearerAuth()
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @ApiOperation({ summary: 'An admin gets every user; a user gets an array holding only themself' })
  list(@CurrentUser() caller: Principal): Promise<UserView[]> {
    return this.users.list(caller);
  }

  @Get('me')
  me(@CurrentUser() caller: Principal): Promise<UserView> {
    return this.users.get(caller, caller.userId);
  }

  @Get(':id')
  get(@CurrentUser() caller: Principal, @Param('id') id: string): Promise<UserView> {
    return this.users.get(caller, id);
  }

  @Post()
  @RequirePermission('users:manage')
  create(@Body() body: CreateUserDto): Promise<UserView> {
    return this.users.create(body);
  }

  @Put(':id')
  @ApiOperation({ summary: 'Self or admin; role and disabled are admin-only; your own password change needs currentPassword' })
  update(@CurrentUser() caller: Principal, @Param('id') id: string, @Body() body: UpdateUserDto): Promise<UserView> {
    return this.users.update(caller, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('users:manage')
  remove(@Param('id') id: string): Promise<void> {
    return this.users.remove(id);
  }
}
