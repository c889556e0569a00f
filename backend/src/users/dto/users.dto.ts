import { zodDto } from '../../http/zod-dto.js';
import { CreateUserSchema, UpdateUserSchema } from '../../protocol/index.js';

export class CreateUserDto extends zodDto(CreateUserSchema, 'CreateUserDto') {}
export class UpdateUserDto extends zodDto(UpdateUserSchema, 'UpdateUserDto') {}
