import { Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import 'reflect-metadata';
import { z } from 'zod';
import { AuthModule } from '../auth/auth.module.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { SocketsModule } from '../sockets/sockets.module.js';
import type { Principal } from '../auth/decorators.js';
import { ClusterModule } from '../cluster/cluster.module.js';
import { ConfigModule } from '../config/config.module.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { DatabaseModule } from '../database/database.module.js';
import { CreateVehicleSchema, fieldErrors, ROLES, SignupSchema, summarize, type Role } from '../protocol/index.js';
import { UsersModule } from '../users/users.module.js';
import { UsersService } from '../users/users.service.js';
import { VehiclesModule } from '../vehicles/vehicles.module.js';
import { VehiclesService } from '../vehicles/vehicles.service.js';

/** A failure the operator can act on: printed without a stack, exit code 1. */
class CliError extends Error {}
/** A command line that does not parse: printed with the usage, exit code 2. */
class UsageError extends Error {}

const CLI_PRINCIPAL: Principal = { userId: 'cli', sessionId: 'cli', email: 'cli', name: 'cli', role: 'admin', exp: 0 };

interface Args {
  positional: string[];
  flags: Record<string, string | true>;
}

interface Command {
  usage: string;
  /** Flags it takes; `true` for a switch, `false` for one with a value. */
  flags?: Record<string, boolean>;
  run(app: INestApplicationContext, args: Args, out: (s: string) => void): Promise<number>;
}

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

const validate = <T>(schema: z.ZodType<T>, value: unknown): T => {
  const r = schema.safeParse(value);
  if (!r.success) throw new CliError(summarize(fieldErrors(r.error)));
  return r.data;
};

function checkRole(role: string | undefined): Role {
  if (!role || !(ROLES as readonly string[]).includes(role)) throw new CliError(`role must be one of: ${ROLES.join(', ')} (got ${JSON.stringify(role ?? null)})`);
  return role as Role;
}

function str(args: Args, name: string): string | undefined {
  const v = args.flags[name];
  return v === true ? undefined : v;
}

function one(args: Args, what: string): string {
  if (args.positional.length !== 1) throw new UsageError(args.positional.length ? `expects one ${what}, got ${args.positional.length} arguments` : `name the ${what}`);
  return args.positional[0];
}

async function userId(app: INestApplicationContext, ref: string): Promise<string> {
  const users = app.get(UsersService);
  const byEmail = await users.findByEmail(ref);
  if (byEmail) return byEmail.id;
  try {
    return (await users.get(CLI_PRINCIPAL, ref)).id;
  } catch {
    throw new CliError(`no user ${ref}`);
  }
}

async function vehicleId(app: INestApplicationContext, ref: string): Promise<string> {
  const vehicles = app.get(VehiclesService);
  const byName = await vehicles.findByName(ref);
  if (byName) return byName.id;
  try {
    return (await vehicles.get(ref)).id;
  } catch {
    throw new CliError(`no vehicle ${ref}`);
  }
}

const COMMANDS: Record<string, Record<string, Command>> = {
  users: {
    list: {
      usage: 'users list [--json]',
      flags: { json: true },
      async run(app, args, out) {
        const all = await app.get(UsersService).list(CLI_PRINCIPAL);
        if (args.flags.json) out(JSON.stringify(all, null, 2));
        else for (const u of all) out(`${u.id}  ${u.role.padEnd(5)}  ${u.disabled ? 'disabled' : 'active  '}  ${u.email}  (${u.name})`);
        return 0;
      },
    },
    create: {
      usage: 'users create <email> [--password P] [--name N] [--role admin|user]   (a password is generated when omitted)',
      flags: { password: false, name: false, role: false },
      async run(app, args, out) {
        const given = str(args, 'password');
        const password = given ?? randomBytes(12).toString('base64url');
        const input = validate(SignupSchema, { email: one(args, 'email'), password, name: str(args, 'name') });
        const user = await app.get(UsersService).create({ ...input, role: checkRole(str(args, 'role') ?? 'user') });
        out(`created ${user.role} ${user.email} (${user.id})${given ? '' : `\npassword: ${password}`}`);
        return 0;
      },
    },
    'set-role': {
      usage: 'users set-role <email|id> <admin|user>',
      async run(app, args, out) {
        if (args.positional.length !== 2) throw new UsageError('expects a user and a role');
        const user = await app.get(UsersService).update(CLI_PRINCIPAL, await userId(app, args.positional[0]), { role: checkRole(args.positional[1]) });
        out(`${user.email} is now ${user.role}`);
        return 0;
      },
    },
    'reset-password': {
      usage: 'users reset-password <email|id> [--password P]                      (a password is generated when omitted)',
      flags: { password: false },
      async run(app, args, out) {
        const id = await userId(app, one(args, 'user'));
        const given = str(args, 'password');
        const password = given ?? randomBytes(12).toString('base64url');
        validate(SignupSchema.pick({ password: true }), { password });
        const user = await app.get(UsersService).update(CLI_PRINCIPAL, id, { password });
        out(`password of ${user.email} reset; every session of it was signed out${given ? '' : `\npassword: ${password}`}`);
        return 0;
      },
    },
    delete: {
      usage: 'users delete <email|id>',
      async run(app, args, out) {
        const ref = one(args, 'user');
        await app.get(UsersService).remove(CLI_PRINCIPAL, await userId(app, ref));
        out(`deleted ${ref}`);
        return 0;
      },
    },
    import: {
      usage: 'users import <users.json>      the seed format {"users":[{"id","email","password"}]}; duplicates are skipped',
      run: (app, args, out) => importFile(app.get(UsersService), one(args, 'file'), out),
    },
  },
  vehicles: {
    list: {
      usage: 'vehicles list [--json]',
      flags: { json: true },
      async run(app, args, out) {
        const all = await app.get(VehiclesService).list();
        const rows = all.map((v) => ({ id: v.id, name: v.name, createdAt: v.createdAt.toISOString(), lastSeenAt: v.lastSeenAt?.toISOString() ?? null }));
        if (args.flags.json) out(JSON.stringify(rows, null, 2));
        else for (const v of rows) out(`${v.id}  ${v.name}  (last seen ${v.lastSeenAt ?? 'never'})`);
        return 0;
      },
    },
    create: {
      usage: 'vehicles create <name>          registers a vehicle and prints its token (shown once)',
      async run(app, args, out) {
        const { name } = validate(CreateVehicleSchema, { name: one(args, 'name') });
        const made = await app.get(VehiclesService).create(name);
        out(`created vehicle ${made.name} (${made.id})\ntoken: ${made.token}`);
        return 0;
      },
    },
    rotate: {
      usage: 'vehicles rotate <name|id>       a new token (shown once); the old one stops working, its connection closes within seconds',
      async run(app, args, out) {
        const { created } = await app.get(VehiclesService).rotateToken(await vehicleId(app, one(args, 'vehicle')));
        out(`new token of ${created.name}: ${created.token}`);
        return 0;
      },
    },
    delete: {
      usage: 'vehicles delete <name|id>',
      async run(app, args, out) {
        const ref = one(args, 'vehicle');
        await app.get(VehiclesService).remove(await vehicleId(app, ref));
        out(`deleted vehicle ${ref}`);
        return 0;
      },
    },
  },
};

function usage(scope?: string): string {
  const scopes = scope && COMMANDS[scope] ? [scope] : Object.keys(COMMANDS);
  const lines = scopes.flatMap((s) => Object.values(COMMANDS[s]).map((c) => `  ${c.usage}`));
  return `Usage: npm run cli -- <command>\n${lines.join('\n')}\n  --help                          this text (after a command: that command's)`;
}

function parseArgs(argv: string[], command: Command): Args {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  const known = command.flags ?? {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const name = a.slice(2);
    if (!(name in known)) throw new UsageError(`unknown option ${a}`);
    if (known[name]) flags[name] = true;
    else {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      flags[name] = v;
    }
  }
  return { positional, flags };
}

/** Only what the commands need: no sockets, no connection log (a server may be running on the same database). */
@Module({})
class CliModule {
  static forRoot(config: ReturnType<typeof loadConfig>): DynamicModule {
    return { module: CliModule, imports: [ConfigModule.forRoot(config), DatabaseModule, ClusterModule, SocketsModule, MetricsModule, AuthModule, UsersModule, VehiclesModule] };
  }
}

export async function run(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const help = argv.includes('--help') || argv.includes('-h');
  const [scope, name, ...rest] = argv.filter((a) => a !== '--help' && a !== '-h');
  if (!scope) {
    (help ? out : err)(usage());
    return help ? 0 : 2;
  }
  const group = COMMANDS[scope];
  if (!group) {
    err(`unknown command ${JSON.stringify(scope)}\n\n${usage()}`);
    return 2;
  }
  const command = name ? group[name] : undefined;
  if (!command) {
    if (help && !name) {
      out(usage(scope));
      return 0;
    }
    err(`${name ? `unknown command "${scope} ${name}"` : `name a ${scope} command`}\n\n${usage(scope)}`);
    return 2;
  }
  if (help) {
    out(`Usage: npm run cli -- ${command.usage}`);
    return 0;
  }
  const args = parseArgs(rest, command);
  const app = await NestFactory.createApplicationContext(CliModule.forRoot(loadConfig()), { logger: ['error'] });
  try {
    return await command.run(app, args, out);
  } finally {
    await app.close();
  }
}

async function importFile(users: UsersService, file: string, out: (s: string) => void): Promise<number> {
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

run(
  process.argv.slice(2),
  (s) => process.stdout.write(s + '\n'),
  (s) => process.stderr.write(s + '\n'),
).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    const known = err instanceof CliError || err instanceof ConfigError || (err as { status?: number })?.status !== undefined;
    process.stderr.write(`error: ${known ? err.message : (err?.stack ?? String(err))}\n`);
    process.exit(1);
  },
);
