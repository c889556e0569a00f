import type { Redis } from 'ioredis';
import { nextFence, type AcquireResult, type DriverLock, type RelayStateStore, type VehicleHome, type VehicleSnapshot } from './relay-state.js';

/**
 * Lua, so that each check-and-change is one atomic step on the Redis server: two instances granting the same seat
 * at once is impossible, and a lease is only ever renewed or released by the socket that holds it.
 */
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local holder = cjson.decode(cur)
  if holder.socketId ~= ARGV[2] and ARGV[3] ~= '1' then return {0, cur, ''} end
end
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local fence = math.max(last + 1, tonumber(ARGV[5]))
local f = string.format('%d', fence)
redis.call('SET', KEYS[2], f)
local lock = string.sub(ARGV[1], 1, -2) .. ',"fence":' .. f .. '}'
redis.call('SET', KEYS[1], lock, 'PX', ARGV[4])
return {1, cur or '', lock}`;

const RENEW = `
local cur = redis.call('GET', KEYS[1])
if cur and cjson.decode(cur).socketId == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
local cur = redis.call('GET', KEYS[1])
if cur and cjson.decode(cur).socketId == ARGV[1] then redis.call('DEL', KEYS[1]) return cur end
return ''`;

const CLEAR_HOME = `
local cur = redis.call('GET', KEYS[1])
if cur and cjson.decode(cur).instanceId == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

type Scripted = Redis & {
  vicerAcquire(key: string, fenceKey: string, lock: string, socketId: string, force: string, ttl: number, floor: number): Promise<[number, string, string]>;
  vicerRenew(key: string, socketId: string, ttl: number): Promise<number>;
  vicerRelease(key: string, socketId: string): Promise<string>;
  vicerClearHome(key: string, instanceId: string): Promise<number>;
};

/** The relay's shared state in Redis, for several instances (REDIS_URL). Keys live under REDIS_PREFIX. */
export class RedisRelayState implements RelayStateStore {
  private readonly r: Scripted;

  constructor(redis: Redis, private readonly key: (...parts: string[]) => string) {
    redis.defineCommand('vicerAcquire', { numberOfKeys: 2, lua: ACQUIRE });
    redis.defineCommand('vicerRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('vicerRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('vicerClearHome', { numberOfKeys: 1, lua: CLEAR_HOME });
    this.r = redis as Scripted;
  }

  async acquireDriver(vehicleId: string, driver: Omit<DriverLock, 'fence'>, force: boolean, leaseMs: number): Promise<AcquireResult> {
    // The fencing token is made by the script (atomically with the lock) and spliced into the lock's JSON there:
    // Lua's cjson would round a 16-digit number.
    const floor = nextFence(0);
    const [ok, before, lock] = await this.r.vicerAcquire(this.key('lock', vehicleId), this.key('fence', vehicleId), JSON.stringify(driver), driver.socketId, force ? '1' : '0', leaseMs, floor);
    const current = before ? (JSON.parse(before) as DriverLock) : null;
    if (!ok) return { ok: false, holder: current, replaced: null };
    return { ok: true, holder: JSON.parse(lock) as DriverLock, replaced: current && current.socketId !== driver.socketId ? current : null };
  }

  async renewDriver(vehicleId: string, socketId: string, leaseMs: number): Promise<boolean> {
    return (await this.r.vicerRenew(this.key('lock', vehicleId), socketId, leaseMs)) === 1;
  }

  async releaseDriver(vehicleId: string, socketId: string): Promise<DriverLock | null> {
    const freed = await this.r.vicerRelease(this.key('lock', vehicleId), socketId);
    return freed ? (JSON.parse(freed) as DriverLock) : null;
  }

  async driverOf(vehicleId: string): Promise<DriverLock | null> {
    const v = await this.r.get(this.key('lock', vehicleId));
    return v ? (JSON.parse(v) as DriverLock) : null;
  }

  async setHome(vehicleId: string, home: VehicleHome, ttlMs: number): Promise<void> {
    await this.r.set(this.key('home', vehicleId), JSON.stringify(home), 'PX', ttlMs);
  }

  async clearHome(vehicleId: string, instanceId: string): Promise<void> {
    await this.r.vicerClearHome(this.key('home', vehicleId), instanceId);
  }

  async homeOf(vehicleId: string): Promise<VehicleHome | null> {
    const v = await this.r.get(this.key('home', vehicleId));
    return v ? (JSON.parse(v) as VehicleHome) : null;
  }

  async setViewers(instanceId: string, counts: Map<string, number>, ttlMs: number): Promise<void> {
    const k = this.key('viewers', instanceId);
    const m = this.r.multi().del(k);
    if (counts.size) m.hset(k, Object.fromEntries(counts)).pexpire(k, ttlMs);
    await m.exec();
  }

  async snapshot(vehicleId: string, instances: string[]): Promise<VehicleSnapshot> {
    const p = this.r.pipeline().get(this.key('home', vehicleId)).get(this.key('lock', vehicleId));
    for (const i of instances) p.hget(this.key('viewers', i), vehicleId);
    const res = (await p.exec()) ?? [];
    const value = (i: number) => {
      const [err, v] = res[i] ?? [null, null];
      if (err) throw err;
      return v;
    };
    let viewers = 0;
    for (let i = 0; i < instances.length; i++) viewers += Number(value(2 + i) ?? 0);
    const home = value(0) as string | null;
    const lock = value(1) as string | null;
    return { home: home ? JSON.parse(home) : null, driver: lock ? JSON.parse(lock) : null, viewers };
  }

  async forget(vehicleId: string): Promise<void> {
    await this.r.del(this.key('lock', vehicleId), this.key('fence', vehicleId), this.key('home', vehicleId));
  }
}
