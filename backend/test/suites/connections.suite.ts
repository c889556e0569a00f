import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import { ConnectionsService } from '../../src/connections/connections.service.js';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { connectPeer, sleep, type Peer } from '../helpers/sockets.js';
import { parseCsv } from '../helpers/csv.js';

/** The connection log, kicks, presence, maintenance and retention, on SQLite and PostgreSQL. */
export function connectionsSuite(database: DatabaseFactory) {
  describe('connections', () => {
    let db: TestDatabase;
    let s: TestServer;
    let admin: string;
    let alice: { token: string; id: string };
    const peers: Peer[] = [];
    const track = (p: Peer) => (peers.push(p), p);

    before(async () => {
      db = await database();
      s = await startServer({ ...db.env, TRUST_PROXY: '1' });
      admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      await s.api('POST', '/api/auth/signup', { body: { email: 'alice@example.com', password: 'password-123', name: 'Alice' } });
      const l = await s.login('alice@example.com', 'password-123');
      alice = { token: l.accessToken, id: l.user.id };
    });
    after(async () => {
      for (const p of peers) p.close();
      await s.close();
      await db.cleanup();
    });

    const active = async (extra = '') => (await s.api('GET', `/api/connections?state=active${extra}`, { token: admin })).body;

    it('records operator and vehicle sessions with ip, port, user and reason; admins see them live', async () => {
      const watcher = track(await connectPeer(s.url, { token: admin }));
      const v = await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'log-rover' } });
      const vehicle = track(await connectPeer(s.url, { vehicleToken: v.body.token }));
      const [opened] = await watcher.next('connections:update', (u) => u.type === 'opened' && u.connection.kind === 'vehicle');
      assert.equal(opened.connection.vehicleId, v.body.id);
      assert.equal(opened.connection.name, 'log-rover');
      const op = track(await connectPeer(s.url, { token: alice.token }));
      const [u] = await watcher.next('connections:update', (x) => x.type === 'opened' && x.connection.userId === alice.id);
      assert.equal(u.connection.kind, 'operator');
      assert.equal(u.connection.ip, '127.0.0.1');
      assert.ok(u.connection.port > 0);
      const list = await active();
      assert.ok(list.items.some((c: any) => c.id === u.connection.id && c.disconnectedAt === null));
      // Counters: Alice watches and gets traffic.
      await op.call('watch', { vehicleId: v.body.id });
      vehicle.socket.emit('telemetry', { speed: 1 });
      await op.next('telemetry');
      // The counters are the engine's own packet events, counted as they pass: the answered watch call is in them.
      // (They once read 0 here: the row's insert wrote the column defaults back over counts taken meanwhile.)
      const live = (await active(`&userId=${alice.id}`)).items[0];
      assert.ok(live.messagesIn >= 1 && live.messagesOut >= 2 && live.bytesIn > 0 && live.bytesOut > 0, JSON.stringify(live));
      op.close();
      const [closed] = await watcher.next('connections:update', (x) => x.type === 'closed' && x.connection.id === u.connection.id);
      assert.equal(closed.connection.disconnectReason, 'client-disconnect');
      await sleep(50);
      const history = await s.api('GET', `/api/connections?state=closed&userId=${alice.id}`, { token: admin });
      const row = history.body.items.find((c: any) => c.id === u.connection.id);
      assert.equal(row.disconnectReason, 'client-disconnect');
      assert.ok(row.messagesIn >= 1, 'counters flushed at close');
    });

    it('believes X-Forwarded-For only when TRUST_PROXY says so', async () => {
      const { io } = await import('socket.io-client');
      const sock = io(s.url + '/relay', { auth: { token: alice.token }, transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { 'x-forwarded-for': '203.0.113.9' } });
      await new Promise<void>((r) => sock.once("connect", () => r()));
      await sleep(50);
      const mine = (await active(`&userId=${alice.id}`)).items;
      assert.ok(mine.some((c: any) => c.ip === '203.0.113.9'), JSON.stringify(mine.map((c: any) => c.ip)));
      sock.disconnect();
      const plain = await startServer(db.env);
      try {
        const token = (await plain.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
        const s2 = io(plain.url + '/relay', { auth: { token }, transports: ['websocket'], forceNew: true, reconnection: false, extraHeaders: { 'x-forwarded-for': '203.0.113.9' } });
        await new Promise<void>((r) => s2.once("connect", () => r()));
        await sleep(50);
        const rows = (await plain.api('GET', '/api/connections?state=active', { token })).body.items;
        assert.equal(rows[0].ip, '127.0.0.1');
        s2.disconnect();
      } finally {
        await plain.close();
      }
    });

    it('filters and pages newest first; every bad filter is a 400 naming the field', async () => {
      const page1 = await s.api('GET', '/api/connections?pageSize=1&page=1', { token: admin });
      assert.equal(page1.status, 200);
      assert.equal(page1.body.items.length, 1);
      assert.ok(page1.body.total >= 3);
      const page2 = await s.api('GET', '/api/connections?pageSize=1&page=2', { token: admin });
      assert.ok(page1.body.items[0].connectedAt >= page2.body.items[0].connectedAt);
      assert.equal((await s.api('GET', '/api/connections?kind=vehicle', { token: admin })).body.items.every((c: any) => c.kind === 'vehicle'), true);
      const future = await s.api('GET', `/api/connections?from=${encodeURIComponent(new Date(Date.now() + 86400000).toISOString())}`, { token: admin });
      assert.equal(future.body.total, 0);
      for (const [q, field] of [
        ['state=open', 'state'],
        ['kind=robot', 'kind'],
        ['userId=42', 'userId'],
        ['vehicleId=x', 'vehicleId'],
        ['from=yesterday', 'from'],
        ['to=2026-13-45', 'to'],
        ['page=0', 'page'],
        ['pageSize=501', 'pageSize'],
        ['pageSize=ten', 'pageSize'],
        ['sort=asc', 'sort'],
      ]) {
        const res = await s.api('GET', `/api/connections?${q}`, { token: admin });
        assert.equal(res.status, 400, q);
        assert.equal(res.body.details[0].field, field, q);
        assert.equal((await s.api('GET', `/api/connections/export.csv?${q}`, { token: admin })).status, 400);
      }
    });

    it('exports CSV: attachment, header row, the rows of the filter', async () => {
      const res = await s.api('GET', `/api/connections/export.csv?userId=${alice.id}`, { token: admin });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="connections-.*\.csv"$/);
      const rows = parseCsv(res.body);
      assert.deepEqual(rows[0].slice(0, 5), ['id', 'kind', 'userId', 'vehicleId', 'name']);
      assert.ok(rows.length >= 3);
      assert.ok(rows.slice(1).every((r) => r[2] === alice.id && r.length === rows[0].length));
    });

    it('kicks an active session: told why, row closed as "kicked"; 404 when not active', async () => {
      const op = track(await connectPeer(s.url, { token: alice.token }));
      await sleep(50);
      const row = (await active(`&userId=${alice.id}`)).items.find((c: any) => c.disconnectedAt === null);
      assert.equal((await s.api('DELETE', `/api/connections/${row.id}`, { token: admin })).status, 204);
      const [kicked] = await op.next('kicked');
      assert.equal(kicked.reason, 'kicked');
      await new Promise((r) => (op.socket.connected ? op.socket.once("disconnect", () => r(null)) : r(null)));
      await sleep(50);
      const closed = (await s.api('GET', `/api/connections?state=closed&userId=${alice.id}`, { token: admin })).body.items.find((c: any) => c.id === row.id);
      assert.equal(closed.disconnectReason, 'kicked');
      assert.equal((await s.api('DELETE', `/api/connections/${row.id}`, { token: admin })).status, 404);
      assert.equal((await s.api('DELETE', `/api/connections/${randomUUID()}`, { token: admin })).status, 404);
    });

    it('presence lists online users to every signed-in socket, without emails or ips', async () => {
      const a = track(await connectPeer(s.url, { token: alice.token }));
      const [first] = await a.next('presence');
      assert.ok(first.some((p: any) => p.userId === alice.id && p.name === 'Alice'));
      await s.api('POST', '/api/auth/signup', { body: { email: 'carol@example.com', password: 'password-123', name: 'Carol' } });
      const carol = await s.login('carol@example.com', 'password-123');
      const c = track(await connectPeer(s.url, { token: carol.accessToken }));
      const [withCarol] = await a.next('presence', (list) => list.some((p: any) => p.name === 'Carol'));
      assert.doesNotMatch(JSON.stringify(withCarol), /@|127\.0\.0\.1|203\.0\.113/);
      for (const entry of withCarol) assert.deepEqual(Object.keys(entry).sort(), ['busy', 'name', 'since', 'userId']);
      c.close();
      await a.next('presence', (list) => !list.some((p: any) => p.name === 'Carol'));
    });

    it('logs sign-ins, failures, throttling, refresh reuse and sign-outs as auth events', async () => {
      await s.api('POST', '/api/auth/login', { body: { email: 'alice@example.com', password: 'wrong-password' } });
      const l = await s.login('alice@example.com', 'password-123');
      await s.api('POST', '/api/auth/refresh', { body: { refreshToken: l.refreshToken } });
      // Past the grace window (aged in the database: no waiting), presenting it again is reuse.
      await db.query(`UPDATE refresh_tokens SET "rotatedAt" = ${db.label === 'SQLite' ? "'2000-01-01 00:00:00.000'" : "'2000-01-01T00:00:00Z'"} WHERE "rotatedAt" IS NOT NULL`);
      await s.api('POST', '/api/auth/refresh', { body: { refreshToken: l.refreshToken } });
      const l2 = await s.login('alice@example.com', 'password-123');
      await s.api('POST', '/api/auth/logout', { token: l2.accessToken });
      await sleep(50);
      const res = await s.api('GET', `/api/auth-events?email=alice@example.com&pageSize=500`, { token: admin });
      const outcomes = res.body.items.map((e: any) => e.outcome);
      for (const o of ['bad-credentials', 'success', 'refresh-reuse', 'logout']) assert.ok(outcomes.includes(o), o);
      assert.equal((await s.api('GET', '/api/auth-events?outcome=bad-credentials', { token: admin })).body.items.every((e: any) => e.outcome === 'bad-credentials'), true);
      assert.equal((await s.api('GET', '/api/auth-events?outcome=maybe', { token: admin })).status, 400);
      const csv = await s.api('GET', '/api/auth-events/export.csv?outcome=success', { token: admin });
      assert.equal(csv.status, 200);
      assert.deepEqual(parseCsv(csv.body)[0], ['id', 'at', 'email', 'userId', 'ip', 'userAgent', 'outcome']);
    });

    it('refuses a signed-in user (403) and anonymous (401) on every admin route', async () => {
      for (const [method, path] of [
        ['GET', '/api/connections'],
        ['GET', '/api/connections/export.csv'],
        ['DELETE', `/api/connections/${randomUUID()}`],
        ['GET', '/api/auth-events'],
        ['GET', '/api/auth-events/export.csv'],
        ['GET', '/api/server/maintenance'],
        ['PUT', '/api/server/maintenance'],
      ]) {
        assert.equal((await s.api(method, path, { token: alice.token, body: method === 'PUT' ? { enabled: true } : undefined })).status, 403, `${method} ${path}`);
        assert.equal((await s.api(method, path)).status, 401, `${method} ${path}`);
      }
      assert.equal((await s.api('GET', '/api/server/maintenance', { token: admin })).body.enabled, false, 'nothing changed');
    });
  });

  describe('maintenance, crash recovery, retention', () => {
    it('while closed: non-admin logins 503, non-admin and vehicle sockets refused, running sessions go on, admins allowed; kept across restarts', async () => {
      const db = await database();
      let s = await startServer(db.env);
      const admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      await s.api('POST', '/api/auth/signup', { body: { email: 'bob@example.com', password: 'password-123' } });
      const bob = await s.login('bob@example.com', 'password-123');
      const vehicle = await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'm-rover' } });
      const running = await connectPeer(s.url, { token: bob.accessToken });
      const bad = await s.api('PUT', '/api/server/maintenance', { token: admin, body: { enabled: 'yes' } });
      assert.equal(bad.status, 400);
      const on = await s.api('PUT', '/api/server/maintenance', { token: admin, body: { enabled: true, message: 'Back at 18:00' } });
      assert.deepEqual([on.status, on.body.enabled, on.body.message], [200, true, 'Back at 18:00']);
      const login = await s.api('POST', '/api/auth/login', { body: { email: 'bob@example.com', password: 'password-123' } });
      assert.equal(login.status, 503);
      assert.equal(login.body.message, 'Back at 18:00');
      const signup = await s.api('POST', '/api/auth/signup', { body: { email: 'late@example.com', password: 'password-123' } });
      assert.deepEqual([signup.status, signup.body.message], [503, 'Back at 18:00'], 'no sign-up while closed');
      const refresh = await s.api('POST', '/api/auth/refresh', { body: { refreshToken: bob.refreshToken } });
      assert.deepEqual([refresh.status, refresh.body.message], [503, 'Back at 18:00'], 'no refresh for a non-admin while closed');
      const adminRefresh = await s.login(ADMIN_EMAIL, ADMIN_PASSWORD);
      assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: adminRefresh.refreshToken } })).status, 200, 'admins may');
      await assert.rejects(connectPeer(s.url, { token: bob.accessToken }), /Back at 18:00/);
      await assert.rejects(connectPeer(s.url, { vehicleToken: vehicle.body.token }), /Back at 18:00/);
      assert.equal(running.socket.connected, true, 'a running session continues');
      assert.equal((await s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).status, 200);
      const adminSock = await connectPeer(s.url, { token: admin });
      adminSock.close();
      running.close();
      await s.close(false);
      s = await startServer(db.env);
      try {
        assert.equal((await s.api('POST', '/api/auth/login', { body: { email: 'bob@example.com', password: 'password-123' } })).status, 503, 'still closed after a restart');
        const admin2 = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
        assert.equal((await s.api('PUT', '/api/server/maintenance', { token: admin2, body: { enabled: false } })).body.enabled, false);
        assert.equal((await s.api('POST', '/api/auth/login', { body: { email: 'bob@example.com', password: 'password-123' } })).status, 200);
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: bob.refreshToken } })).status, 200, 'the 503 left the session for later');
        const maint = await s.api('GET', '/api/auth-events?outcome=maintenance', { token: admin2 });
        assert.ok(maint.body.total >= 2);
      } finally {
        await s.close();
        await db.cleanup();
      }
    });

    it('closes rows a crash left open with reason server-restart, and purges rows past the retention', async () => {
      const db = await database();
      let s = await startServer({ ...db.env, CONNECTION_RETENTION_DAYS: '30' });
      const ds = s.app.get(DataSource);
      const old = new Date(Date.now() - 40 * 86400000);
      const rows = [
        { id: randomUUID(), kind: 'operator', name: 'ghost', connectedAt: new Date(), disconnectedAt: null },
        { id: randomUUID(), kind: 'vehicle', name: 'ancient', connectedAt: old, disconnectedAt: old, disconnectReason: 'transport-close' },
        { id: randomUUID(), kind: 'operator', name: 'recent', connectedAt: new Date(), disconnectedAt: new Date(), disconnectReason: 'transport-close' },
      ];
      for (const r of rows) await ds.getRepository('Connection').insert({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, ...r });
      await ds.getRepository('AuthEvent').insert({ id: randomUUID(), at: old, outcome: 'success', email: 'old@example.com' });
      // A crash: the process dies without closing anything. Reopening the data dir recovers.
      await s.close(false);
      s = await startServer({ ...db.env, CONNECTION_RETENTION_DAYS: '30' });
      try {
        const token = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
        const all = (await s.api('GET', '/api/connections?pageSize=500', { token })).body.items;
        assert.equal(all.find((c: any) => c.name === 'ghost').disconnectReason, 'server-restart');
        assert.equal(all.find((c: any) => c.name === 'ancient'), undefined, 'purged at start');
        assert.ok(all.find((c: any) => c.name === 'recent'));
        assert.equal((await s.api('GET', '/api/auth-events?email=old@example.com', { token })).body.total, 0);
        const svc = s.app.get(ConnectionsService);
        const later = await svc.purge(new Date(Date.now() + 31 * 86400000));
        assert.ok(later.connections >= 2, 'the daily purge removes what has aged out');
      } finally {
        await s.close();
        await db.cleanup();
      }
    });

    it('exports 100 000 rows over HTTP, every one of them', async () => {
      const db = await database();
      const s = await startServer(db.env);
      try {
        const ds = s.app.get(DataSource);
        const base = Date.now() - 100_000_000;
        await ds.transaction(async (m) => {
          for (let i = 0; i < 100_000; i += 500) {
            const rows = [];
            for (let j = i; j < i + 500; j++) {
              rows.push({ id: randomUUID(), kind: 'operator', name: `user${j}@example.com, "quoted"`, ip: '10.0.0.1', port: 1000, userAgent: 'agent', connectedAt: new Date(base + j * 1000), disconnectedAt: new Date(base + j * 1000 + 500), disconnectReason: 'transport-close', messagesIn: 1, messagesOut: 2, bytesIn: 3, bytesOut: 0 });
            }
            await m.createQueryBuilder().insert().into('connections').values(rows).execute();
          }
        });
        const token = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
        const res = await fetch(`${s.url}/api/connections/export.csv`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200);
        const reader = res.body!.getReader();
        let lines = 0;
        let bytes = 0;
        let tail = '';
        const dec = new TextDecoder();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.length;
          const text = tail + dec.decode(value, { stream: true });
          const parts = text.split('\r\n');
          tail = parts.pop()!;
          lines += parts.length;
        }
        assert.equal(lines, 100_001, 'header + 100 000 rows');
        assert.ok(bytes > 10_000_000, `${bytes} bytes`);
      } finally {
        await s.close();
        await db.cleanup();
      }
    });
  });
}
