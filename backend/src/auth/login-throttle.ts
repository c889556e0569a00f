import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';

export const THROTTLE_MAX_FAILURES = 5;
export const THROTTLE_WINDOW_MS = 15 * 60 * 1000;

/** Failed sign-ins per ip + email in a sliding window: after `max` of them, wait until the oldest ages out. */
export interface LoginThrottleStore {
  /** Seconds to wait before trying again, or 0 when allowed. */
  retryAfter(key: string): Promise<number>;
  fail(key: string): Promise<void>;
  reset(key: string): Promise<void>;
}

export const LOGIN_THROTTLE = Symbol('LOGIN_THROTTLE');

/** One process: the failures in memory. */
export class LoginThrottle implements LoginThrottleStore {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly max = THROTTLE_MAX_FAILURES, private readonly windowMs = THROTTLE_WINDOW_MS, private readonly now = () => Date.now()) {}

  async retryAfter(key: string): Promise<number> {
    const recent = this.recent(key);
    if (recent.length < this.max) return 0;
    return Math.max(1, Math.ceil((recent[recent.length - this.max] + this.windowMs - this.now()) / 1000));
  }

  async fail(key: string): Promise<void> {
    const recent = this.recent(key);
    recent.push(this.now());
    this.failures.set(key, recent);
    if (this.failures.size > 100_000) this.sweep();
  }

  async reset(key: string): Promise<void> {
    this.failures.delete(key);
  }

  private recent(key: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((t) => t > since);
  }

  private sweep(): void {
    for (const key of [...this.failures.keys()]) if (!this.recent(key).length) this.failures.delete(key);
  }
}

/** Ages out old failures, then answers the wait in ms (0 when allowed). */
const RETRY_AFTER = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[3]) then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], n - tonumber(ARGV[3]), n - tonumber(ARGV[3]), 'WITHSCORES')
return tonumber(oldest[2]) + tonumber(ARGV[2]) - tonumber(ARGV[1])`;

type Scripted = Redis & { vicerThrottleWait(key: string, now: number, window: number, max: number): Promise<number> };

/** Several instances: the failures in Redis, so the limit holds however the balancer spreads the attempts. */
export class RedisLoginThrottle implements LoginThrottleStore {
  private readonly r: Scripted;
  /** While Redis is unreachable, this instance still counts by itself (never fails open). */
  private readonly fallback: LoginThrottle;

  constructor(redis: Redis, private readonly key: (...parts: string[]) => string, private readonly max = THROTTLE_MAX_FAILURES, private readonly windowMs = THROTTLE_WINDOW_MS) {
    redis.defineCommand('vicerThrottleWait', { numberOfKeys: 1, lua: RETRY_AFTER });
    this.r = redis as Scripted;
    this.fallback = new LoginThrottle(max, windowMs);
  }

  /** Keys hold a hash of ip + email, not the email itself. */
  private k(key: string): string {
    return this.key('throttle', createHash('sha256').update(key).digest('hex').slice(0, 32));
  }

  async retryAfter(key: string): Promise<number> {
    const local = await this.fallback.retryAfter(key);
    try {
      const ms = await this.r.vicerThrottleWait(this.k(key), Date.now(), this.windowMs, this.max);
      return Math.max(local, ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 0);
    } catch {
      return local;
    }
  }

  async fail(key: string): Promise<void> {
    await this.fallback.fail(key);
    const now = Date.now();
    await this.r
      .multi()
      .zadd(this.k(key), now, `${now}-${Math.random()}`)
      .pexpire(this.k(key), this.windowMs)
      .exec()
      .catch(() => undefined);
  }

  async reset(key: string): Promise<void> {
    await this.fallback.reset(key);
    await this.r.del(this.k(key)).catch(() => undefined);
  }
}
