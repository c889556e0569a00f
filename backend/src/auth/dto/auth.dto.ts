import { zodDto } from '../../http/zod-dto.js';
import { LoginSchema, RefreshSchema, SignupSchema } from '../../protocol/index.js';

export class SignupDto extends zodDto(SignupSchema, 'SignupDto') {}
export class LoginDto extends zodDto(LoginSchema, 'LoginDto') {}
export class RefreshDto extends zodDto(RefreshSchema, 'RefreshDto') {}
