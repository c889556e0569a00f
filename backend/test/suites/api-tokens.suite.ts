import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DataSource } from 'typeorm';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';

/** Personal API tokens through the real HTTP stack, on SQLite and (pg tier) PostgreSQL. */
export function apiTokensSuite(database: DatabaseFactory) {
  describe('personal API tokens', () => {
    let s: TestServer;
    let db: TestDatabase;
    let admin: { accessToken: string };
    let n = 0;
    const user = async () => {
      const email = `tok${++n}-${Date.now()}@example.com`;
      assert.equal((await s.api('POST', '/api/auth/signup', { body: { email, password: 'password-123', name: `Tok ${n}` } })).status, 201);
      return { email, ...(await s.login(email, 'password-123')) };
    };
    const make = async (access: string, body: unknown = { name: 'script', expiresInDays: 7 }) => {
      const res = await s.api('POST', '/api/users/me/tokens', { token: access, body });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { id: string; token: string; prefix: string; expiresAt: string; lastUsedAt: string | null };
    };
    const rows = () => s.app.get(DataSource).query('SELECT * FROM api_tokens') as Promise<Record<string, unknown>[]>;

    before(async () => {
      db = await database();
      s = await startServer(db.env);
      admin = await s.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    });
    after(async () => {
      await s.close();
      await db.cleanup();
    });

    it('is shown once and stored only as its SHA-256', async () => {
      const u = await user();
      const created = await make(u.accessToken, { name: '  nightly export ', expiresInDays: 30 });
      assert.match(created.token, /^vct_[A-Za-z0-9_-]{43}$/);
      assert.ok(created.token.startsWith(created.prefix));
      const days = (Date.parse(created.expiresAt) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days <= 30, String(days));
      const list = await s.api('GET', '/api/users/me/tokens', { token: u.accessToken });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.map((t: any) => t.name), ['nightly export']);
      assert.ok(!JSON.stringify(list.body).includes(created.token), 'the list never holds the secret');
      const stored = (await rows()).find((r) => r.id === created.id)!;
      assert.equal(stored.tokenHash, createHash('sha256').update(created.token).digest('hex'));
      assert.ok(!JSON.stringify(await rows()).includes(created.token), 'the database never holds the secret');
    });

    it('calls the REST API as its owner, with the owner’s role, and records when it was last used', async () => {
      const u = await user();
      const t = await make(u.accessToken);
      assert.equal(t.lastUsedAt, null);
      const me = await s.api('GET', '/api/users/me', { token: t.token });
      assert.equal(me.status, 200);
      assert.equal(me.body.email, u.email);
      const users = await s.api('GET', '/api/users', { token: t.token });
      assert.deepEqual(users.body.map((x: any) => x.email), [u.email], 'a user’s token sees what the user sees');
      assert.equal((await s.api('POST', '/api/users', { token: t.token, body: { email: 'x@example.com', password: 'password-123', role: 'user' } })).status, 403);
      const adminToken = await make(admin.accessToken, { name: 'admin script' });
      const all = await s.api('GET', '/api/users', { token: adminToken.token });
      assert.equal(all.status, 200);
      assert.ok(all.body.length > 1, 'an admin’s token has the admin’s role');
      const listed = (await s.api('GET', '/api/users/me/tokens', { token: u.accessToken })).body.find((x: any) => x.id === t.id);
      assert.ok(listed.lastUsedAt && Date.now() - Date.parse(listed.lastUsedAt) < 60_000, JSON.stringify(listed));
      assert.equal(listed.owner.email, u.email);
    });

    it('cannot mint tokens nor take the account over; a name change is fine', async () => {
      const u = await user();
      const t = await make(u.accessToken);
      assert.equal((await s.api('POST', '/api/users/me/tokens', { token: t.token, body: { name: 'child' } })).status, 403);
      assert.equal((await s.api('DELETE', `/api/users/me/tokens/${t.id}`, { token: t.token })).status, 403);
      const pw = await s.api('PUT', `/api/users/${u.user.id}`, { token: t.token, body: { password: 'password-456', currentPassword: 'password-123' } });
      assert.equal(pw.status, 403);
      assert.match(pw.body.message, /API token/);
      assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: t.token, body: { email: 'taken-over@example.com' } })).status, 403);
      const renamed = await s.api('PUT', `/api/users/${u.user.id}`, { token: t.token, body: { name: 'Scripted' } });
      assert.equal(renamed.status, 200);
      assert.equal((await s.api('GET', '/api/users/me/tokens', { token: u.accessToken })).body.length, 1, 'nothing was minted');
    });

    it('stops working once revoked; revoking again is 404', async () => {
      const u = await user();
      const t = await make(u.accessToken);
      assert.equal((await s.api('GET', '/api/users/me', { token: t.token })).status, 200);
      assert.equal((await s.api('DELETE', `/api/users/me/tokens/${t.id}`, { token: u.accessToken })).status, 204);
      const after = await s.api('GET', '/api/users/me', { token: t.token });
      assert.equal(after.status, 401);
      assert.match(after.body.message, /revoked/);
      assert.equal((await s.api('DELETE', `/api/users/me/tokens/${t.id}`, { token: u.accessToken })).status, 404);
      assert.deepEqual((await s.api('GET', '/api/users/me/tokens', { token: u.accessToken })).body, []);
    });

    it('stops working once expired, and the list marks it', async () => {
      const u = await user();
      const t = await make(u.accessToken, { name: 'short', expiresInDays: 1 });
      assert.equal((await s.api('GET', '/api/users/me', { token: t.token })).status, 200);
      await s.app.get(DataSource).createQueryBuilder().update('api_tokens').set({ expiresAt: new Date(Date.now() - 1000) }).where('id = :id', { id: t.id }).execute();
      const res = await s.api('GET', '/api/users/me', { token: t.token });
      assert.equal(res.status, 401);
      assert.match(res.body.message, /expired/);
      const listed = (await s.api('GET', '/api/users/me/tokens', { token: u.accessToken })).body;
      assert.equal(listed[0].expired, true);
    });

    it('another user’s token can be neither seen nor revoked; the admin sees and revokes anyone’s', async () => {
      const a = await user();
      const b = await user();
      const ta = await make(a.accessToken, { name: 'a’s' });
      await make(b.accessToken, { name: 'b’s' });
      assert.deepEqual((await s.api('GET', '/api/users/me/tokens', { token: b.accessToken })).body.map((t: any) => t.name), ['b’s']);
      assert.equal((await s.api('DELETE', `/api/users/me/tokens/${ta.id}`, { token: b.accessToken })).status, 404);
      assert.equal((await s.api('GET', '/api/tokens', { token: b.accessToken })).status, 403);
      assert.equal((await s.api('DELETE', `/api/tokens/${ta.id}`, { token: b.accessToken })).status, 403);
      assert.equal((await s.api('GET', '/api/users/me', { token: ta.token })).status, 200, 'untouched by B');
      const all = await s.api('GET', '/api/tokens', { token: admin.accessToken });
      assert.equal(all.status, 200);
      const names = all.body.map((t: any) => `${t.owner.email}:${t.name}`);
      assert.ok(names.includes(`${a.email}:a’s`) && names.includes(`${b.email}:b’s`), names.join());
      assert.equal((await s.api('DELETE', `/api/tokens/${ta.id}`, { token: admin.accessToken })).status, 204);
      assert.equal((await s.api('GET', '/api/users/me', { token: ta.token })).status, 401);
    });

    it('dies with its account: disabled refuses it, deleted removes it', async () => {
      const u = await user();
      const t = await make(u.accessToken);
      assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: admin.accessToken, body: { disabled: true } })).status, 200);
      assert.equal((await s.api('GET', '/api/users/me', { token: t.token })).status, 401);
      assert.equal((await s.api('DELETE', `/api/users/${u.user.id}`, { token: admin.accessToken })).status, 204);
      assert.equal((await rows()).filter((r) => r.userId === u.user.id).length, 0);
    });

    for (const [why, body, field] of [
      ['an empty name', { name: '   ' }, 'name'],
      ['a missing name', { expiresInDays: 3 }, 'name'],
      ['a name over 64 characters', { name: 'x'.repeat(65) }, 'name'],
      ['zero days', { name: 'n', expiresInDays: 0 }, 'expiresInDays'],
      ['over a year', { name: 'n', expiresInDays: 366 }, 'expiresInDays'],
      ['a fraction of a day', { name: 'n', expiresInDays: 1.5 }, 'expiresInDays'],
      ['days as text', { name: 'n', expiresInDays: '7' }, 'expiresInDays'],
      ['an unknown field', { name: 'n', scopes: ['all'] }, 'scopes'],
    ] as const) {
      it(`answers 400 naming the field for ${why}, and makes nothing`, async () => {
        const before = (await rows()).length;
        const res = await s.api('POST', '/api/users/me/tokens', { token: admin.accessToken, body });
        assert.equal(res.status, 400, JSON.stringify(res.body));
        assert.ok(res.body.details.some((d: any) => d.field === field), JSON.stringify(res.body));
        assert.equal((await rows()).length, before);
      });
    }

    it('refuses made-up, over-long and socket-borne tokens with 401, never a 500', async () => {
      for (const token of ['vct_', 'vct_' + 'A'.repeat(43), 'vct_' + 'x'.repeat(5000), 'vct_%00\t'.trim()]) {
        const res = await s.api('GET', '/api/users/me', { token });
        assert.equal(res.status, 401, token.slice(0, 20));
      }
      const u = await user();
      const t = await make(u.accessToken);
      const { io } = await import('socket.io-client');
      const sock = io(`${s.url}/relay`, { auth: { token: t.token }, transports: ['websocket'], reconnection: false });
      const err = await new Promise<Error>((resolve) => sock.on('connect_error', resolve));
      sock.close();
      assert.match(err.message, /REST API|unauthorized|token/i);
    });
  });
}
