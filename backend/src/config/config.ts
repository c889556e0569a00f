import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';

/** Raised when an environment variable holds a value the server cannot run with; the message names it. */
export class ConfigError extends Error {}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const bool = (fallback: boolean) =>
  z
    .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'], { error: 'must be one of 1, 0, true, false, yes, no, on, off' })
    .optional()
    .transform((v) => (v === undefined ? fallback : ['1', 'true', 'yes', 'on'].includes(v)));

const positiveInt = (fallback: number, max = 1_000_000) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from 1 to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const list = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean));

const EnvSchema = z.object({
  PORT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 3000;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: 'must be a port number from 0 to 65535' });
        return z.NEVER;
      }
      return n;
    }),
  HOST: z.string().min(1, 'must not be empty').default('0.0.0.0'),
  DATA_DIR: z.string().min(1, 'must not be empty').default('./data'),
  DATABASE_URL: z
    .string()
    .optional()
    .refine((v) => !v || /^(sqlite:|postgres(ql)?:\/\/)/.test(v), 'must start with sqlite: or postgres://'),
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  ADMIN_EMAIL: z.email('must be a valid email address').default('admin@vicer.local'),
  ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').max(128, 'must be at most 128 characters').optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  // A number counts proxies (hops) in front, `1` being one nginx: only the entries they appended to X-Forwarded-For are
  // believed. Trusting every hop lets any client write its own address, so it must be spelled `true`.
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v, ctx): boolean | number | string[] => {
      if (!v || ['0', 'false', 'no', 'off'].includes(v)) return false;
      if (v === 'true') return true;
      if (/^\d+$/.test(v)) {
        const n = Number(v);
        if (n <= 100) return n;
      } else {
        const list = v.split(',').map((s) => s.trim()).filter(Boolean);
        try {
          proxyaddr.compile(list);
          if (list.length) return list;
        } catch {
          // reported below
        }
      }
      ctx.addIssue({ code: 'custom', message: 'must be a hop count (1 behind one proxy), a comma list of proxy addresses or CIDRs, false, or true (trusts every hop)' });
      return z.NEVER;
    }),
  CORS_ORIGINS: list.refine((l) => l.every((o) => o === '*' || /^https?:\/\/[^/]+$/.test(o)), 'must be a comma-separated list of origins like https://example.com'),
  VICER_DEMO: bool(true),
  MAX_SOCKETS_PER_USER: positiveInt(20, 100_000),
  MAX_SOCKETS_PER_ADDRESS: positiveInt(100, 1_000_000),
  CONNECTION_RETENTION_DAYS: positiveInt(90, 36500),
  STUN_URLS: list,
  TURN_URLS: list,
  TURN_USERNAME: z.string().optional(),
  TURN_CREDENTIAL: z.string().optional(),
  TURN_SECRET: z.string().optional(),
  TURN_TTL_SECONDS: positiveInt(3600, 7 * 24 * 3600),
  RECORD_DRIVES: bool(false),
  RECORDINGS_DIR: z.string().min(1, 'must not be empty').optional(),
  RECORDING_RETENTION_DAYS: positiveInt(30, 36500),
  RECORDINGS_MAX_GB: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 20;
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0 || n > 1_000_000) {
        ctx.addIssue({ code: 'custom', message: 'must be a number of gigabytes above 0, e.g. 0.5 or 20' });
        return z.NEVER;
      }
      return n;
    }),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(256, 'must be at most 256 characters').optional(),
  REDIS_URL: z
    .string()
    .optional()
    .refine((v) => !v || /^rediss?:\/\/[^/]+/.test(v), 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,40}$/, 'must be 1-40 letters, digits, dots, dashes or underscores')
    .default('vicer'),
  REDIS_TIMEOUT_MS: positiveInt(1000, 60_000),
  INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 letters, digits, dots, colons, dashes or underscores')
    .optional(),
});

export interface AppConfig {
  port: number;
  host: string;
  dataDir: string;
  database: { type: 'sqlite'; path: string } | { type: 'postgres'; url: string };
  jwtSecret: string;
  adminEmail: string;
  adminPassword?: string;
  logLevel: (typeof LOG_LEVELS)[number];
  trustProxy: boolean | number | string[];
  corsOrigins: string[];
  demoVehicle: boolean;
  /** Live relay sockets one account, and one client address, may hold on one instance. */
  socketCaps: { perUser: number; perAddress: number };
  connectionRetentionDays: number;
  /** Bearer token for GET /metrics; without it only loopback clients may scrape. */
  metricsToken?: string;
  /** Drive recordings (MCAP): every drive when `all`, else the vehicles an admin turned it on for. */
  recordings: { all: boolean; dir: string; retentionDays: number; maxBytes: number };
  /** Several instances share state through Redis when set; one process with no Redis otherwise. */
  /** `timeoutMs`: the deadline of every Redis call; past it, Redis counts as down until it answers again. */
  redis: { url: string; prefix: string; timeoutMs: number } | null;
  /** This process among the instances: stable across its restarts (connection rows are closed per instance). */
  instanceId: string;
  rtc: {
    stunUrls: string[];
    turnUrls: string[];
    turnUsername?: string;
    turnCredential?: string;
    turnSecret?: string;
    turnTtlSeconds: number;
  };
}

/** Variables whose values are secrets: an error names them but never prints them. */
const SECRETS = new Set(['JWT_SECRET', 'ADMIN_PASSWORD', 'TURN_SECRET', 'TURN_CREDENTIAL', 'METRICS_TOKEN']);

/** A bad value as the error message shows it: secrets hidden, passwords in URLs masked. */
function shown(name: string, value: string | undefined): string {
  if (value === undefined) return 'not set';
  if (SECRETS.has(name)) return `value hidden, ${value.length} characters`;
  return `got ${JSON.stringify(value.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@'))}`;
}

/** Reads and checks the environment; throws ConfigError naming every bad variable. Creates DATA_DIR. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message} (${shown(String(i.path[0]), env[String(i.path[0])])})`);
    throw new ConfigError(`Invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.TURN_URLS.length && !e.TURN_SECRET && !(e.TURN_USERNAME && e.TURN_CREDENTIAL)) {
    throw new ConfigError('Invalid configuration:\n  TURN_URLS: needs TURN_SECRET, or both TURN_USERNAME and TURN_CREDENTIAL');
  }
  const dataDir = resolve(e.DATA_DIR);
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new ConfigError(`Invalid configuration:\n  DATA_DIR: cannot create ${dataDir} (${(err as Error).message})`);
  }
  let database: AppConfig['database'];
  if (e.DATABASE_URL?.startsWith('postgres')) database = { type: 'postgres', url: e.DATABASE_URL };
  else {
    const file = e.DATABASE_URL ? e.DATABASE_URL.replace(/^sqlite:(\/\/)?/, '') : 'vicer.sqlite';
    if (!file) throw new ConfigError('Invalid configuration:\n  DATABASE_URL: sqlite: needs a file path, e.g. sqlite:./data/vicer.sqlite');
    database = { type: 'sqlite', path: isAbsolute(file) ? file : e.DATABASE_URL ? resolve(file) : join(dataDir, file) };
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir,
    database,
    jwtSecret: e.JWT_SECRET ?? persistentSecret(dataDir),
    adminEmail: e.ADMIN_EMAIL.toLowerCase(),
    adminPassword: e.ADMIN_PASSWORD,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    demoVehicle: e.VICER_DEMO,
    socketCaps: { perUser: e.MAX_SOCKETS_PER_USER, perAddress: e.MAX_SOCKETS_PER_ADDRESS },
    connectionRetentionDays: e.CONNECTION_RETENTION_DAYS,
    metricsToken: e.METRICS_TOKEN,
    recordings: {
      all: e.RECORD_DRIVES,
      dir: e.RECORDINGS_DIR ? resolve(e.RECORDINGS_DIR) : join(dataDir, 'recordings'),
      retentionDays: e.RECORDING_RETENTION_DAYS,
      maxBytes: Math.round(e.RECORDINGS_MAX_GB * 1024 ** 3),
    },
    redis: e.REDIS_URL ? { url: e.REDIS_URL, prefix: e.REDIS_PREFIX, timeoutMs: e.REDIS_TIMEOUT_MS } : null,
    instanceId: e.INSTANCE_ID ?? `${hostname()}-${e.PORT}`,
    rtc: {
      stunUrls: e.STUN_URLS,
      turnUrls: e.TURN_URLS,
      turnUsername: e.TURN_USERNAME,
      turnCredential: e.TURN_CREDENTIAL,
      turnSecret: e.TURN_SECRET,
      turnTtlSeconds: e.TURN_TTL_SECONDS,
    },
  };
}

/**
 * Which hops of a request's path are trusted proxies (proxy-addr's form: the socket's peer is hop 0, then each
 * X-Forwarded-For entry from the right), or null to trust none. HTTP and the socket log share it.
 */
export function proxyTrust(t: AppConfig['trustProxy']): ((addr: string, hop: number) => boolean) | null {
  if (t === false) return null;
  if (t === true) return () => true;
  if (typeof t === 'number') return (_addr, hop) => hop < t;
  return proxyaddr.compile(t);
}

/** A request's client address as the trust says (the socket's peer when it trusts none), without an IPv4-mapped prefix. */
export function clientAddress(req: IncomingMessage, trust: ReturnType<typeof proxyTrust>): string | null {
  const ip = trust ? proxyaddr(req, trust) : req.socket?.remoteAddress;
  return ip?.replace(/^::ffff:/, '') ?? null;
}

/** Settings that work but that an operator should know are risky; logged at start. */
export function configWarnings(config: AppConfig): string[] {
  const warnings: string[] = [];
  if (config.trustProxy === true) {
    warnings.push('TRUST_PROXY=true believes every X-Forwarded-For entry, so any client can claim any address (sign-in throttle, connection log). Behind one proxy set TRUST_PROXY=1.');
  }
  return warnings;
}

/** A signing secret generated on first start and kept in DATA_DIR (mode 0600) so tokens survive restarts. */
function persistentSecret(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim();
    if (secret.length >= 32) return secret;
  }
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, secret + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}
