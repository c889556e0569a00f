import type { Redis } from 'ioredis';
import type { CallParty } from '../protocol/index.js';

export interface Party extends CallParty {
  /** The socket bound to the call: the caller's from the start, the callee's once it accepts. */
  socketId: string | null;
  /** The instance that holds that socket. */
  instanceId: string | null;
}

/** A call in progress (ringing or active), as every instance sees it. */
export interface CallState {
  id: string;
  caller: Party;
  callee: Party;
  state: 'ringing' | 'active';
  startedAt: string;
  answeredAt: string | null;
}

/**
 * Calls in progress, shared by the instances. Creating one reserves both users at once (one call per user);
 * removing one succeeds exactly once, so a call ends once however many instances try.
 */
export interface CallStore {
  create(call: CallState): Promise<'ok' | 'caller-busy' | 'callee-busy'>;
  get(callId: string): Promise<CallState | null>;
  update(call: CallState): Promise<void>;
  /** True for the one caller that removed it. */
  remove(call: CallState): Promise<boolean>;
  /** Which of these users are in a call (or ringing). */
  busy(userIds: string[]): Promise<Set<string>>;
  byUser(userId: string): Promise<string | null>;
  all(): Promise<CallState[]>;
}

export const CALL_STORE = Symbol('CALL_STORE');

export class InMemoryCallStore implements CallStore {
  private readonly calls = new Map<string, CallState>();
  private readonly byUsers = new Map<string, string>();

  async create(call: CallState): Promise<'ok' | 'caller-busy' | 'callee-busy'> {
    if (this.byUsers.has(call.caller.userId)) return 'caller-busy';
    if (this.byUsers.has(call.callee.userId)) return 'callee-busy';
    this.calls.set(call.id, structuredClone(call));
    this.byUsers.set(call.caller.userId, call.id);
    this.byUsers.set(call.callee.userId, call.id);
    return 'ok';
  }

  async get(callId: string): Promise<CallState | null> {
    const c = this.calls.get(callId);
    return c ? structuredClone(c) : null;
  }

  async update(call: CallState): Promise<void> {
    if (this.calls.has(call.id)) this.calls.set(call.id, structuredClone(call));
  }

  async remove(call: CallState): Promise<boolean> {
    if (!this.calls.delete(call.id)) return false;
    for (const u of [call.caller.userId, call.callee.userId]) if (this.byUsers.get(u) === call.id) this.byUsers.delete(u);
    return true;
  }

  async busy(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((u) => this.byUsers.has(u)));
  }

  async byUser(userId: string): Promise<string | null> {
    return this.byUsers.get(userId) ?? null;
  }

  async all(): Promise<CallState[]> {
    return [...this.calls.values()].map((c) => structuredClone(c));
  }
}

const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'caller-busy' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'callee-busy' end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
return 'ok'`;

const REMOVE = `
if redis.call('DEL', KEYS[3]) == 0 then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('SREM', KEYS[4], ARGV[1])
return 1`;

type Scripted = Redis & {
  vicerCallCreate(...args: (string | number)[]): Promise<string>;
  vicerCallRemove(...args: (string | number)[]): Promise<number>;
};

/** Calls in Redis, for several instances. */
export class RedisCallStore implements CallStore {
  private readonly r: Scripted;

  constructor(redis: Redis, private readonly key: (...parts: string[]) => string) {
    redis.defineCommand('vicerCallCreate', { numberOfKeys: 4, lua: CREATE });
    redis.defineCommand('vicerCallRemove', { numberOfKeys: 4, lua: REMOVE });
    this.r = redis as Scripted;
  }

  private keys(call: CallState): string[] {
    return [this.key('call-of', call.caller.userId), this.key('call-of', call.callee.userId), this.key('call', call.id), this.key('calls')];
  }

  async create(call: CallState): Promise<'ok' | 'caller-busy' | 'callee-busy'> {
    return (await this.r.vicerCallCreate(...this.keys(call), call.id, JSON.stringify(call))) as 'ok' | 'caller-busy' | 'callee-busy';
  }

  async get(callId: string): Promise<CallState | null> {
    const v = await this.r.get(this.key('call', callId));
    return v ? (JSON.parse(v) as CallState) : null;
  }

  async update(call: CallState): Promise<void> {
    await this.r.set(this.key('call', call.id), JSON.stringify(call), 'XX');
  }

  async remove(call: CallState): Promise<boolean> {
    return (await this.r.vicerCallRemove(...this.keys(call), call.id)) === 1;
  }

  async busy(userIds: string[]): Promise<Set<string>> {
    if (!userIds.length) return new Set();
    const values = await this.r.mget(userIds.map((u) => this.key('call-of', u)));
    return new Set(userIds.filter((_, i) => values[i] !== null));
  }

  async byUser(userId: string): Promise<string | null> {
    return this.r.get(this.key('call-of', userId));
  }

  async all(): Promise<CallState[]> {
    const ids = await this.r.smembers(this.key('calls'));
    if (!ids.length) return [];
    const values = await this.r.mget(ids.map((id) => this.key('call', id)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as CallState);
  }
}
