import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { AdapterRedis } from '../src/cluster/cluster.service.js';
import { nextFence, type DriverLock } from '../src/relay/relay-state.js';
import { RedisRelayState } from '../src/relay/relay-state.redis.js';
import { ensureRedis } from './helpers/cluster.js';
import { freePort } from './helpers/databases.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer } from './helpers/server.js';
import { connectPeer } from './helpers/sockets.js';

const holder = (socketId: string): Omit<DriverLock, 'fence'> => ({ userId: '00000000-0000-4000-8000-000000000001', name: 'Dana', socketId, instanceId: 'i1' });

describe('fencing tokens', () => {
  it('property: tokens only grow, whatever the last one was and however the clock stands (a store that starts empty included)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5000 })), { minLength: 1, maxLength: 50 }), (steps) => {
        let last = 0;
        let now = Date.now();
        for (const [restart, advance] of steps) {
          now += advance;
          // A restarted store forgot its last token; the one who remembers it is the vehicle.
          const remembered = last;
          const next = nextFence(restart ? 0 : last, now);
          assert.ok(next > remembered || (restart && advance === 0 && next >= now * 1000), `${next} after ${remembered}`);
          assert.ok(next >= now * 1000);
          last = Math.max(last, next);
        }
      }),
    );
  });

  it('Redis: every acquisition gets a larger token, kept exactly in the lock; an emptied Redis still gives a larger one', async () => {
    const { url } = await ensureRedis();
    const r = new Redis(url);
    const prefix = `vicer-fence-${process.pid}-${Date.now()}`;
    try {
      const store = new RedisRelayState(r, (...p) => [prefix, ...p].join(':'));
      const vehicleId = '00000000-0000-4000-8000-0000000000aa';
      const a = await store.acquireDriver(vehicleId, holder('s1'), false, 1000);
      const again = await store.acquireDriver(vehicleId, holder('s1'), false, 1000);
      const taken = await store.acquireDriver(vehicleId, holder('s2'), true, 1000);
      assert.ok(a.ok && again.ok && taken.ok);
      assert.ok(again.holder!.fence > a.holder!.fence && taken.holder!.fence > again.holder!.fence, 'the same socket acquiring again and a takeover each get a new, larger token');
      assert.equal((await store.driverOf(vehicleId))!.fence, taken.holder!.fence, 'the 16-digit token survives the trip through Lua unrounded');
      assert.ok(Number.isSafeInteger(taken.holder!.fence));
      const keys = await r.keys(`${prefix}:*`);
      await r.del(...keys);
      const afterFlush = await store.acquireDriver(vehicleId, holder('s3'), false, 1000);
      assert.ok(afterFlush.holder!.fence > taken.holder!.fence, 'a Redis restarted empty does not hand out an old token');
    } finally {
      const keys = await r.keys(`${prefix}:*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    }
  });
});

describe('the e-stop latch is durable', () => {
  it('a restarted server still says latched, tells a reconnecting vehicle at once, and only a clear (with a newer generation) ends it', { timeout: 60_000 }, async () => {
    const first = await startServer();
    const dir = first.dataDir;
    let vehicleId: string;
    let token: string;
    let latchGen: number;
    try {
      const admin = (await first.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      const v = (await first.api('POST', '/api/vehicles', { token: admin, body: { name: 'latched-rover' } })).body;
      vehicleId = v.id;
      token = v.token;
      const vehicle = await connectPeer(first.url, { vehicleToken: token });
      const w = await connectPeer(first.url, { token: admin });
      assert.equal((await w.call('watch', { vehicleId })).ok, true);
      assert.equal((await w.call('estop', { vehicleId })).state.estopped, true);
      const latched = await vehicle.next('estop', (e) => typeof e.gen === 'number');
      latchGen = latched[0].gen;
      vehicle.close();
      w.close();
    } finally {
      await first.close(false);
    }
    const second = await startServer({}, dir);
    try {
      const admin = (await second.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      assert.equal((await second.api('GET', `/api/vehicles/${vehicleId}`, { token: admin })).body.estopped, true, 'still latched after the restart');
      const vehicle = await connectPeer(second.url, { vehicleToken: token });
      const [told] = await vehicle.next('estop');
      assert.equal(told.gen, latchGen, 'the vehicle is told on connect, with the latch’s generation');
      const w = await connectPeer(second.url, { token: admin });
      assert.equal((await w.call('watch', { vehicleId })).ok, true);
      assert.equal((await w.call('estop:clear', { vehicleId })).state.estopped, false);
      const [clear] = await vehicle.next('estop:clear');
      assert.ok(clear.gen > latchGen, 'a clear carries a newer generation than the latch it ends');
      vehicle.close();
      w.close();
    } finally {
      await second.close(false);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the seat follows the vehicle (one instance)', () => {
  it('the vehicle disconnects: the driver is told vehicle-lost and the seat is free; the vehicle back is driven only after a new acquire, under a new token', { timeout: 60_000 }, async () => {
    const s = await startServer();
    try {
      const admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      const v = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'lost-rover' } })).body;
      let vehicle = await connectPeer(s.url, { vehicleToken: v.token });
      const d = await connectPeer(s.url, { token: admin });
      assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
      const [seat] = await vehicle.next('seat');
      d.socket.emit('control', { vehicleId: v.id, seq: 1, throttle: 0.5, steer: 0, sentAt: Date.now() });
      assert.equal((await vehicle.next('control'))[0].fence, seat.fence);
      vehicle.close();
      const [revoked] = await d.next('drive:revoked');
      assert.equal(revoked.reason, 'vehicle-lost');
      assert.equal((await s.api('GET', `/api/vehicles/${v.id}`, { token: admin })).body.driver, null, 'the seat is free');
      vehicle = await connectPeer(s.url, { vehicleToken: v.token });
      d.socket.emit('control', { vehicleId: v.id, seq: 2, throttle: 0.5, steer: 0, sentAt: Date.now() });
      assert.equal((await d.next('error', (e) => e.event === 'control')).at(0).code, 'not-driver', 'the old seat drives nothing');
      assert.equal(vehicle.count('control'), 0);
      assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
      const [next] = await vehicle.next('seat');
      assert.ok(next.fence > seat.fence, 'a new acquisition, a larger token');
      d.socket.emit('control', { vehicleId: v.id, seq: 3, throttle: 0.5, steer: 0, sentAt: Date.now() });
      assert.equal((await vehicle.next('control'))[0].fence, next.fence);
      vehicle.close();
      d.close();
    } finally {
      await s.close();
    }
  });
});

describe('the Redis client of Socket.IO’s adapter', () => {
  it('never rejects the calls the adapter does not await (publish, subscribe, unsubscribe) while Redis is gone — a plain client does', { timeout: 20_000 }, async () => {
    const port = await freePort();
    const opts = { maxRetriesPerRequest: 1, retryStrategy: () => 50, lazyConnect: false };
    const plain = new Redis(`redis://127.0.0.1:${port}`, opts);
    const adapter = new AdapterRedis(`redis://127.0.0.1:${port}`, opts);
    for (const c of [plain, adapter]) c.on('error', () => undefined);
    try {
      // What the adapter's close() does on shutdown, and its broadcasts meanwhile: none of it awaited.
      await assert.rejects(plain.unsubscribe('vicer:sio#/relay#'), /max retries|Connection is closed/i);
      assert.equal(await adapter.publish('vicer:sio#/relay#', 'x'), 0);
      await adapter.subscribe('a');
      await adapter.psubscribe('b*');
      await adapter.unsubscribe('a');
      await adapter.punsubscribe('b*');
    } finally {
      plain.disconnect();
      adapter.disconnect();
    }
  });
});
