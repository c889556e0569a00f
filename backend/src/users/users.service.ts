import { BadRequestException, ConflictException, ForbiddenException, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomBytes, randomUUID } from 'node:crypto';
import { QueryFailedError, type EntityManager, type Repository } from 'typeorm';
import { ApiToken } from '../api-tokens/api-token.entity.js';
import { AuthService } from '../auth/auth.service.js';
import { assertTokenScope } from '../auth/auth.guard.js';
import type { Principal } from '../auth/decorators.js';
import { PasswordService } from '../auth/password.service.js';
import { DatabaseService } from '../database/database.service.js';
import { can, type Role, type UpdateUserRequest, type UserView } from '../protocol/index.js';
import { User, toUserView } from './user.entity.js';

export interface NewUser {
  email: string;
  password: string;
  name?: string;
  role: Role;
}

@Injectable()
export class UsersService {
  private readonly logger = new Logger('users');

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly passwords: PasswordService,
    private readonly db: DatabaseService,
    private readonly auth: AuthService,
  ) {}

  async list(caller: Principal): Promise<UserView[]> {
    if (!can(caller.role, 'users:manage')) return [toUserView(await this.mustFind(caller.userId))];
    return (await this.users.find({ order: { createdAt: 'ASC' } })).map(toUserView);
  }

  async get(caller: Principal, id: string): Promise<UserView> {
    this.assertSelfOrAdmin(caller, id);
    return toUserView(await this.mustFind(id));
  }

  /** An admin's call: an API token, whatever its scopes, never makes an admin. */
  async createAs(caller: Principal, input: NewUser): Promise<UserView> {
    if (caller.apiTokenId && input.role === 'admin') throw tokenCannot('An API token cannot create an admin account; sign in to do that');
    return this.create(input);
  }

  async create(input: NewUser): Promise<UserView> {
    const passwordHash = await this.passwords.hash(input.password);
    const email = input.email.toLowerCase();
    const user = await this.db.transaction(async (m) => {
      if (await m.existsBy(User, { email })) throw new ConflictException({ message: 'Email already registered', code: 'email-taken' });
      const now = new Date();
      const row = m.create(User, { id: randomUUID(), email, name: input.name ?? email.split('@')[0], role: input.role, passwordHash, disabled: false, createdAt: now, updatedAt: now, lastLoginAt: null });
      await m.insert(User, row).catch(uniqueToConflict);
      return row;
    });
    return toUserView(user);
  }

  async update(caller: Principal, id: string, patch: UpdateUserRequest): Promise<UserView> {
    const isAdmin = can(caller.role, 'users:manage');
    this.assertSelfOrAdmin(caller, id);
    if (!isAdmin && (patch.role !== undefined || patch.disabled !== undefined)) throw new ForbiddenException('Only an admin can change a role or disable an account');
    const self = caller.userId === id;
    // A leaked script token must not be a way to take an account, or the instance, over.
    if (caller.apiTokenId) {
      if (patch.password !== undefined || patch.email !== undefined || patch.role !== undefined) throw tokenCannot('An API token cannot change a password, an email or a role; sign in to do that');
      assertTokenScope(caller, self ? 'account' : 'users:manage');
    }
    const target = await this.mustFind(id);
    if (caller.apiTokenId && target.role === 'admin' && (!self || patch.disabled !== undefined)) throw tokenCannot('An API token cannot disable an admin or change another admin’s account; sign in to do that');
    if (patch.password !== undefined && self) {
      if (!patch.currentPassword) throw new BadRequestException({ message: 'currentPassword: is required to change your own password', details: [{ field: 'currentPassword', message: 'is required to change your own password', code: 'required' }] });
      if (!(await this.passwords.verify(target.passwordHash, patch.currentPassword))) {
        throw new BadRequestException({ message: 'currentPassword: does not match', details: [{ field: 'currentPassword', message: 'does not match', code: 'mismatch' }] });
      }
    }
    const passwordHash = patch.password !== undefined ? await this.passwords.hash(patch.password) : undefined;
    const updated = await this.db.transaction(async (m) => {
      const user = await m.findOneByOrFail(User, { id });
      if (patch.email !== undefined && patch.email !== user.email) {
        if (await m.existsBy(User, { email: patch.email })) throw new ConflictException({ message: 'Email already registered', code: 'email-taken' });
        user.email = patch.email;
      }
      const losesAdmin = user.role === 'admin' && !user.disabled && ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true);
      if (losesAdmin && (await this.otherActiveAdmins(m, id)) === 0) throw new ConflictException({ message: 'The last admin cannot be demoted or disabled', code: 'last-admin' });
      if (patch.name !== undefined) user.name = patch.name;
      if (patch.role !== undefined) user.role = patch.role;
      if (patch.disabled !== undefined) user.disabled = patch.disabled;
      if (passwordHash) user.passwordHash = passwordHash;
      user.updatedAt = new Date();
      await m.save(user).catch(uniqueToConflict);
      return user;
    });
    // A new password or a disabled account ends the other sign-ins (the caller's own session stays) and every API
    // token of the account: a token minted from a stolen session must not survive the remedy.
    if (passwordHash || patch.disabled === true) await this.auth.revokeApiTokens(id);
    if (passwordHash) await this.auth.revokeSessions(id, 'password-changed', undefined, self ? caller.sessionId : undefined);
    if (patch.disabled === true) await this.auth.revokeSessions(id, 'disabled');
    else if (patch.role !== undefined && patch.role !== target.role) this.auth.revokeSessions(id, 'role-changed', undefined, self ? caller.sessionId : undefined);
    return toUserView(updated);
  }

  async remove(caller: Principal, id: string): Promise<void> {
    await this.db.transaction(async (m) => {
      const user = await m.findOneBy(User, { id });
      if (!user) throw new NotFoundException('User not found');
      if (caller.apiTokenId && user.role === 'admin') throw tokenCannot('An API token cannot delete an admin account; sign in to do that');
      if (user.role === 'admin' && !user.disabled && (await this.otherActiveAdmins(m, id)) === 0) throw new ConflictException({ message: 'The last admin cannot be deleted', code: 'last-admin' });
      await m.delete(ApiToken, { userId: id });
      await m.delete(User, { id });
    });
    this.auth.revokeSessions(id, 'deleted').catch(() => undefined);
  }

  async findByEmail(email: string): Promise<User | null> {
    return this.users.findOneBy({ email: email.toLowerCase() });
  }

  /** While no admin exists (the first start): the admin account, with a generated password when none is set. */
  async ensureInitialAdmin(email: string, password: string | undefined, announce: (text: string) => void): Promise<void> {
    if ((await this.users.countBy({ role: "admin" })) > 0) return;
    if (await this.users.existsBy({ email })) {
      this.logger.warn(`No admin account exists and ${email} is taken by a user: promote it with "npm run cli -- users set-role ${email} admin"`);
      return;
    }
    const generated = password === undefined;
    const secret = password ?? randomBytes(12).toString('base64url');
    await this.create({ email, password: secret, name: 'Administrator', role: 'admin' });
    if (generated) {
      announce(
        [
          '',
          '================================================================',
          '  vicer: first start - an admin account was created',
          `    email:    ${email}`,
          `    password: ${secret}`,
          '  This password is shown only once. Change it after signing in,',
          '  or set ADMIN_PASSWORD before the first start next time.',
          '================================================================',
          '',
        ].join('\n'),
      );
    } else this.logger.log(`Created the admin account ${email} from ADMIN_PASSWORD`);
  }

  private assertSelfOrAdmin(caller: Principal, id: string): void {
    if (caller.userId !== id && !can(caller.role, 'users:manage')) throw new ForbiddenException('You can only access your own account');
  }

  private async mustFind(id: string): Promise<User> {
    const user = await this.users.findOneBy({ id });
    if (!user) throw new NotFoundException('User not found');
    return user;
  }

  private otherActiveAdmins(m: EntityManager, id: string): Promise<number> {
    return m.createQueryBuilder(User, 'u').where('u.role = :role AND u.disabled = :d AND u.id != :id', { role: 'admin', d: false, id }).getCount();
  }
}

function tokenCannot(message: string): ForbiddenException {
  return new ForbiddenException({ message, code: 'token-cannot' });
}

function uniqueToConflict(err: unknown): never {
  if (err instanceof QueryFailedError && /unique|duplicate/i.test(err.message)) throw new ConflictException({ message: 'Email already registered', code: 'email-taken' });
  throw err;
}
