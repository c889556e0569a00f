import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import 'reflect-metadata';
import { z } from 'zod';
import { AppModule } from '../app.module.js';
import type { Principal } from '../auth/decorators.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { fieldErrors, ROLES, SignupSchema, summarize, type Role } from '../protocol/index.js';
import { UsersService } from '../users/users.service.js';

const USAGE = `Usage: npm run cli -- users <command>
  users list [--json]
  users create <email> [--password P] [--name N] [--role admin|user]   (a password is generated when omitted)
  users set-role <email|id> <admin|user>
  users reset-password <email|id> [--password P]                      (a password is generated when omitted)
  users delete <email|id>
  users import <users.json>      the seed's format {"users":[{"id","email","password"}]}; duplicates are skipped`;

/** A failure the operator can act on: printed without a stack, exit code 1. */
class CliError extends Error {}

const CLI_PRINCIPAL: Principal = { userId: 'cli', sessionId: 'cli', email: 'cli', name: 'cli', role: 'admin', exp: 0 };

const SeedFile = z.object({
  users: z.array(
    z.looseObject({
      id: z.unknown().optional(),
      email: z.string({ error: 'email must be a string' }),
      password: z.string({ error: 'password must be a string' }),
      role: z.union([z.enum(ROLES), z.literal(1), z.literal(2), z.literal('1'), z.literal('2')]).optional(),
    }),
  ),
});

function parseFlags(args: string[]): { positional: string[]; flags: Record<string, string | true> } {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith('--')) {
      const next = args[i + 1];
      if (next !== undefined && !next.startsWith('--') && a !== '--json') {
        flags[a.slice(2)] = next;
        i++;
      } else flags[a.slice(2)] = true;
    } else positional.push(a);
  }
  return { positional, flags };
}

function str(flags: Record<string, string | true>, name: string): string | undefined {
  const v = flags[name];
  if (v === true) throw new CliError(`--${name} needs a value`);
  return v;
}

function checkRole(role: string | undefined): Role {
  if (!role || !(ROLES as readonly string[]).includes(role)) throw new CliError(`role must be one of: ${ROLES.join(', ')} (got ${JSON.stringify(role ?? null)})`);
  return role as Role;
}

export async function run(argv: string[], out: (s: string) => void): Promise<number> {
  const [scope, command, ...rest] = argv;
  if (scope !== 'users' || !command) {
    out(USAGE);
    return scope === undefined || scope === '--help' ? 0 : 1;
  }
  const { positional, flags } = parseFlags(rest);
  const config = loadConfig();
  const ctx = await NestFactory.createApplicationContext(AppModule.forRoot(config), { logger: ['error'] });
  const users = ctx.get(UsersService);
  const resolve = async (ref: string | undefined) => {
    if (!ref) throw new CliError('name a user by email or id');
    const byEmail = await users.findByEmail(ref);
    if (byEmail) return byEmail.id;
    try {
      return (await users.get(CLI_PRINCIPAL, ref)).id;
    } catch {
      throw new CliError(`no user ${ref}`);
    }
  };
  const validate = <T>(schema: z.ZodType<T>, value: unknown): T => {
    const r = schema.safeParse(value);
    if (!r.success) throw new CliError(summarize(fieldErrors(r.error)));
    return r.data;
  };
  try {
    switch (command) {
      case 'list': {
        const all = await users.list(CLI_PRINCIPAL);
        if (flags.json) out(JSON.stringify(all, null, 2));
        else for (const u of all) out(`${u.id}  ${u.role.padEnd(5)}  ${u.disabled ? 'disabled' : 'active  '}  ${u.email}  (${u.name})`);
        return 0;
      }
      case 'create': {
        const password = str(flags, 'password') ?? randomBytes(12).toString('base64url');
        const input = validate(SignupSchema, { email: positional[0], password, name: str(flags, 'name') });
        const user = await users.create({ ...input, role: checkRole(str(flags, 'role') ?? 'user') });
        out(`created ${user.role} ${user.email} (${user.id})${flags.password ? '' : `\npassword: ${password}`}`);
        return 0;
      }
      case 'set-role': {
        const id = await resolve(positional[0]);
        const user = await users.update(CLI_PRINCIPAL, id, { role: checkRole(positional[1]) });
        out(`${user.email} is now ${user.role}`);
        return 0;
      }
      case 'reset-password': {
        const id = await resolve(positional[0]);
        const password = str(flags, 'password') ?? randomBytes(12).toString('base64url');
        validate(SignupSchema.pick({ password: true }), { password });
        const user = await users.update(CLI_PRINCIPAL, id, { password });
        out(`password of ${user.email} reset; every session of it was signed out${flags.password ? '' : `\npassword: ${password}`}`);
        return 0;
      }
      case 'delete': {
        const id = await resolve(positional[0]);
        await users.remove(id);
        out(`deleted ${positional[0]}`);
        return 0;
      }
      case 'import':
        return await importFile(users, positional[0], out);
      default:
        out(USAGE);
        return 1;
    }
  } finally {
    await ctx.close();
  }
}

async function importFile(users: UsersService, file: string | undefined, out: (s: string) => void): Promise<number> {
  if (!file) throw new CliError('name the file to import: users import <users.json>');
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}; nothing was imported`);
  }
  const parsed = SeedFile.safeParse(data);
  if (!parsed.success) throw new CliError(`${file} is not a users file (${summarize(fieldErrors(parsed.error))}); nothing was imported`);
  let imported = 0;
  const skipped: string[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of parsed.data.users.entries()) {
    const label = `#${i + 1} ${entry.email}`;
    const checked = SignupSchema.safeParse({ email: entry.email, password: entry.password });
    if (!checked.success) {
      skipped.push(`${label}: ${summarize(fieldErrors(checked.error))}`);
      continue;
    }
    const email = checked.data.email;
    if (seen.has(email) || (await users.findByEmail(email))) {
      skipped.push(`${label}: duplicate (email already registered)`);
      continue;
    }
    seen.add(email);
    const role: Role = entry.role === 'admin' || entry.role === 1 || entry.role === '1' ? 'admin' : 'user';
    await users.create({ email, password: entry.password, role });
    imported++;
  }
  out(`imported ${imported} user(s), skipped ${skipped.length}`);
  for (const s of skipped) out(`  skipped ${s}`);
  return 0;
}

run(process.argv.slice(2), (s) => process.stdout.write(s + '\n')).then(
  (code) => process.exit(code),
  (err) => {
    const known = err instanceof CliError || err instanceof ConfigError || (err as { status?: number })?.status !== undefined;
    process.stderr.write(`error: ${known ? err.message : (err?.stack ?? String(err))}\n`);
    process.exit(1);
  },
);
