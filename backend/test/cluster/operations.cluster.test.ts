import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startCluster, startRedis, type TestCluster } from '../helpers/cluster.js';
import { http } from '../helpers/process.js';
import { connectPeer, sleep, type Peer } from '../helpers/sockets.js';

/** Everything that used to live in one process' memory, across instances: sessions, maintenance, calls, throttling. */
describe('cluster: sessions, maintenance, calls and throttling across instances', () => {
  let c: TestCluster;
  let admin: string;
  const peers: Peer[] = [];
  const track = (p: Peer) => (peers.push(p), p);
  const users: Record<string, { token: string; refresh: string; id: string }> = {};
  const login = async (name: string, via = c.nginx.url) => {
    const l = await http(via, 'POST', '/api/auth/login', { body: { email: `${name}@example.com`, password: 'password-123' } });
    assert.equal(l.status, 200, JSON.stringify(l.body));
    return { token: l.body.accessToken as string, refresh: l.body.refreshToken as string, id: l.body.user.id as string };
  };

  before(async () => {
    c = await startCluster();
    admin = await c.admin();
    for (const name of ['ann', 'ben', 'cat', 'dan']) {
      await http(c.nginx.url, 'POST', '/api/auth/signup', { body: { email: `${name}@example.com`, password: 'password-123', name } });
      users[name] = await login(name);
    }
  });
  after(async () => {
    for (const p of peers) p.close();
    await c?.stop();
  });

  it('logout on one instance closes the session’s socket on another; token rotation on one closes the vehicle on another', { timeout: 30_000 }, async () => {
    const s = await login('ann');
    const sock = track(await c.direct('i3', { token: s.token }));
    const closed = sock.nextNew('error', (e) => e.code === 'token-expired', 10_000);
    assert.equal((await http(c.url('i1'), 'POST', '/api/auth/logout', { token: s.token })).status, 204);
    assert.match((await closed)[0].message, /signed out \(logout\)/);
    assert.equal((await http(c.url('i2'), 'GET', '/api/users/me', { token: s.token })).status, 401);

    const v = (await http(c.url('i1'), 'POST', '/api/vehicles', { token: admin, body: { name: 'ops-rover' } })).body;
    const vehicle = track(await c.direct('i2', { vehicleToken: v.token }));
    const gone = new Promise((r) => vehicle.socket.once('disconnect', r));
    assert.equal((await http(c.url('i3'), 'POST', `/api/vehicles/${v.id}/token`, { token: admin })).status, 200);
    await gone;
    const rows = (await http(c.url('i1'), 'GET', `/api/connections?vehicleId=${v.id}`, { token: admin })).body.items;
    await sleep(200);
    const again = (await http(c.url('i1'), 'GET', `/api/connections?vehicleId=${v.id}`, { token: admin })).body.items;
    assert.equal(again[0].disconnectReason ?? rows[0].disconnectReason, 'token-rotated');
    assert.equal(again[0].instanceId, 'i2');
  });

  it('kick on one instance closes a socket held by another; 404 for one that is not active anywhere', { timeout: 30_000 }, async () => {
    const sock = track(await c.direct('i2', { token: users.ben.token }));
    const conn = (await http(c.url('i3'), 'GET', `/api/connections?state=active&userId=${users.ben.id}`, { token: admin })).body.items.find((r: any) => r.instanceId === 'i2');
    assert.ok(conn);
    const kicked = sock.nextNew('kicked', undefined, 10_000);
    assert.equal((await http(c.url('i3'), 'DELETE', `/api/connections/${conn.id}`, { token: admin })).status, 204);
    await kicked;
    await sleep(300);
    assert.equal((await http(c.url('i1'), 'DELETE', `/api/connections/${conn.id}`, { token: admin })).status, 404);
  });

  it('maintenance switched on one instance refuses new sessions on every instance at once, and off again', { timeout: 30_000 }, async () => {
    assert.equal((await http(c.url('i1'), 'PUT', '/api/server/maintenance', { token: admin, body: { enabled: true, message: 'Back soon' } })).status, 200);
    for (const id of ['i1', 'i2', 'i3']) {
      const r = await http(c.url(id), 'POST', '/api/auth/login', { body: { email: 'cat@example.com', password: 'password-123' } });
      assert.deepEqual([r.status, r.body.message], [503, 'Back soon'], `login on ${id}`);
      await assert.rejects(c.direct(id, { token: users.cat.token }), /Back soon/, `socket on ${id}`);
    }
    assert.equal((await http(c.url('i2'), 'PUT', '/api/server/maintenance', { token: admin, body: { enabled: false } })).status, 200);
    for (const id of ['i1', 'i2', 'i3']) assert.equal((await http(c.url(id), 'POST', '/api/auth/login', { body: { email: 'cat@example.com', password: 'password-123' } })).status, 200, `login on ${id}`);
  });

  it('sign-in throttling counts failures on every instance together', { timeout: 30_000 }, async () => {
    for (let i = 0; i < 5; i++) {
      const r = await http(c.url(`i${(i % 3) + 1}`), 'POST', '/api/auth/login', { body: { email: 'dan@example.com', password: 'wrong-password' } });
      assert.equal(r.status, 401);
    }
    const blocked = await http(c.url('i2'), 'POST', '/api/auth/login', { body: { email: 'dan@example.com', password: 'password-123' } });
    assert.equal(blocked.status, 429, 'the sixth attempt, wherever it lands');
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  });

  it('refresh rotation and reuse detection hold across instances', { timeout: 30_000 }, async () => {
    const s = await login('ann');
    const first = await http(c.url('i1'), 'POST', '/api/auth/refresh', { body: { refreshToken: s.refresh } });
    assert.equal(first.status, 200);
    const twin = await http(c.url('i2'), 'POST', '/api/auth/refresh', { body: { refreshToken: s.refresh } });
    assert.equal(twin.body.refreshToken, first.body.refreshToken, 'the same successor within the grace window');
    assert.equal((await http(c.url('i3'), 'POST', '/api/auth/refresh', { body: { refreshToken: first.body.refreshToken } })).status, 200);
  });

  it('presence lists users of every instance, and a call rings, connects and relays signals between instances', { timeout: 30_000 }, async () => {
    const a = track(await c.direct('i1', { token: users.ann.token }));
    const b = track(await c.direct('i3', { token: users.ben.token }));
    const [list] = await a.next('presence', (l) => l.some((p: any) => p.userId === users.ben.id), 10_000);
    assert.ok(list.some((p: any) => p.userId === users.ann.id));
    const invite = await a.call('call:invite', { to: users.ben.id });
    assert.equal(invite.ok, true, JSON.stringify(invite));
    const [incoming] = await b.next('call:incoming', undefined, 5000);
    assert.equal(incoming.callId, invite.callId);
    const busy = track(await c.direct('i2', { token: users.cat.token }));
    assert.equal((await busy.call('call:invite', { to: users.ben.id })).error.code, 'busy', 'busy on another instance');
    assert.deepEqual(await b.call('call:accept', { callId: invite.callId }), { ok: true });
    await a.next('call:accepted', (x) => x.callId === invite.callId, 5000);
    const offer = { callId: invite.callId, description: { type: 'offer', sdp: 'v=0' } };
    a.socket.emit('call:signal', offer);
    assert.deepEqual((await b.next('call:signal', undefined, 5000))[0], offer);
    b.socket.emit('call:signal', { callId: invite.callId, candidate: { candidate: 'c', sdpMid: '0', sdpMLineIndex: 0 } });
    await a.next('call:signal', (x) => !!x.candidate, 5000);
    assert.equal(busy.count('call:signal'), 0, 'never to anyone else');
    assert.deepEqual(await a.call('call:hangup', { callId: invite.callId }), { ok: true });
    for (const p of [a, b]) assert.equal((await p.next('call:ended', (x) => x.callId === invite.callId, 5000))[0].reason, 'hangup');
    const log = (await http(c.url('i2'), 'GET', '/api/calls', { token: admin })).body.items.find((r: any) => r.id === invite.callId);
    assert.ok(log?.answeredAt && log.endedAt && log.endReason === 'hangup', JSON.stringify(log));
  });
});

describe('cluster: losing Redis', () => {
  it('no lock is granted while Redis is down, nothing crashes, /api/health says degraded, and it recovers by itself', { timeout: 120_000 }, async (t) => {
    const redis = await startRedis();
    const c = await startCluster({ instances: 2, redis });
    const peers: Peer[] = [];
    try {
      const admin = await c.admin();
      const v = (await http(c.url('i1'), 'POST', '/api/vehicles', { token: admin, body: { name: 'outage-rover' } })).body;
      const vehicle = await connectPeer(c.url('i1'), { vehicleToken: v.token }, { reconnection: true });
      const driver = await connectPeer(c.url('i2'), { token: admin }, { reconnection: true });
      peers.push(vehicle, driver);
      assert.equal((await driver.call('drive:acquire', { vehicleId: v.id })).ok, true);
      driver.socket.emit('control', { vehicleId: v.id, seq: 1, throttle: 0.5, steer: 0, sentAt: Date.now() });
      await vehicle.next('control', undefined, 5000);

      const revoked = driver.nextNew('drive:revoked', undefined, 15_000);
      const stopped = vehicle.nextNew('stop', undefined, 15_000);
      await redis.stop();
      assert.equal((await revoked)[0].reason, 'unavailable', 'the driver is told');
      await stopped;
      const refused = await driver.call('drive:acquire', { vehicleId: v.id });
      assert.deepEqual([refused.ok, refused.error?.code], [false, 'unavailable']);
      for (const id of ['i1', 'i2']) {
        const h = await http(c.url(id), 'GET', '/api/health');
        assert.deepEqual([h.status, h.body.status, h.body.redis], [200, 'degraded', 'down'], `health of ${id}`);
      }
      assert.equal((await http(c.url('i1'), 'GET', '/api/users/me', { token: admin })).status, 200, 'the API still answers');

      await redis.start();
      const started = performance.now();
      let granted = false;
      while (!granted && performance.now() - started < 30_000) {
        granted = (await driver.call('drive:acquire', { vehicleId: v.id }).catch(() => ({ ok: false }))).ok;
        if (!granted) await sleep(200);
      }
      assert.equal(granted, true, 'driving again once Redis is back');
      t.diagnostic(`Redis back → a driver lock granted again after ${(performance.now() - started).toFixed(0)} ms`);
      // A driver sends at 30 Hz: controls reach the vehicle again.
      let seq = 100;
      const sending = setInterval(() => driver.socket.emit('control', { vehicleId: v.id, seq: ++seq, throttle: 0.5, steer: 0, sentAt: Date.now() }), 33);
      try {
        await vehicle.nextNew('control', (x) => x.seq > 100, 10_000);
      } finally {
        clearInterval(sending);
      }
      for (const id of ['i1', 'i2']) assert.equal((await http(c.url(id), 'GET', '/api/health')).body.status, 'ok');
      for (const p of c.instances) assert.equal(p.child.exitCode, null, 'no instance stopped');
    } finally {
      peers.forEach((p) => p.close());
      await c.stop();
      await redis.stop();
    }
  });
});
