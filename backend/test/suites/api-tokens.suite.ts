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
      const t = await make(u.accessToken, { name: 'profile', scopes: ['read', 'account'] });
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

    const ALL = ['read', 'account', 'users:manage', 'vehicles:manage', 'connections:manage', 'recordings:manage', 'server:maintenance'];

    it('is read-only unless made with more scopes: every write answers 403 token-scope, every read works', async () => {
      const t = await make(admin.accessToken, { name: 'reader' });
      assert.deepEqual((await s.api('GET', '/api/users/me/tokens', { token: admin.accessToken })).body.find((x: any) => x.id === t.id).scopes, ['read']);
      for (const path of ['/api/users', '/api/vehicles', '/api/connections', '/api/auth-events', '/api/tokens', '/api/server/maintenance', '/api/recordings']) {
        assert.equal((await s.api('GET', path, { token: t.token })).status, 200, path);
      }
      const me = (await s.api('GET', '/api/users/me', { token: admin.accessToken })).body;
      for (const [method, path, body] of [
        ['POST', '/api/vehicles', { name: 'by-reader' }],
        ['POST', '/api/users', { email: 'by-reader@example.com', password: 'password-123', role: 'user' }],
        ['PUT', `/api/users/${me.id}`, { name: 'Renamed' }],
        ['PUT', '/api/server/maintenance', { enabled: true }],
        ['DELETE', '/api/connections/00000000-0000-4000-8000-000000000000', undefined],
        ['DELETE', '/api/recordings/00000000-0000-4000-8000-000000000000', undefined],
      ] as const) {
        const res = await s.api(method, path, { token: t.token, body });
        assert.equal(res.status, 403, `${method} ${path}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, 'token-scope', `${method} ${path}`);
      }
      assert.equal((await s.api('GET', '/api/server/maintenance', { token: admin.accessToken })).body.enabled, false);
    });

    it('scopes are the owner’s to give: a user cannot give a token an admin permission', async () => {
      const u = await user();
      const res = await s.api('POST', '/api/users/me/tokens', { token: u.accessToken, body: { name: 'greedy', scopes: ['read', 'vehicles:manage'] } });
      assert.equal(res.status, 403);
      assert.equal(res.body.code, 'token-scope');
      const ok = await make(u.accessToken, { name: 'fine', scopes: ['read', 'account'] });
      assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: ok.token, body: { name: 'Still me' } })).status, 200);
    });

    it('a leaked admin token with every scope still cannot take the instance over (each refused route)', async () => {
      const t = await make(admin.accessToken, { name: 'everything', scopes: ALL });
      const adminId = (await s.api('GET', '/api/users/me', { token: admin.accessToken })).body.id;
      const u = await user();
      const refused: [string, string, unknown, number, string][] = [
        ['POST', '/api/users', { email: 'evil-admin@example.com', password: 'password-123', role: 'admin' }, 403, 'token-cannot'],
        ['PUT', `/api/users/${u.user.id}`, { role: 'admin' }, 403, 'token-cannot'],
        ['PUT', `/api/users/${adminId}`, { password: 'password-999' }, 403, 'token-cannot'],
        ['PUT', `/api/users/${u.user.id}`, { password: 'password-999' }, 403, 'token-cannot'],
        ['PUT', `/api/users/${u.user.id}`, { email: 'moved@example.com' }, 403, 'token-cannot'],
        ['PUT', `/api/users/${adminId}`, { email: 'moved@example.com' }, 403, 'token-cannot'],
        ['PUT', `/api/users/${adminId}`, { disabled: true }, 403, 'token-cannot'],
        ['DELETE', `/api/users/${adminId}`, undefined, 403, 'token-cannot'],
        ['POST', '/api/users/me/tokens', { name: 'child', scopes: ALL }, 403, 'token-cannot'],
        ['DELETE', `/api/users/me/tokens/${t.id}`, undefined, 403, 'token-cannot'],
        ['POST', '/api/auth/logout', undefined, 400, 'token-cannot'],
        ['POST', '/api/auth/logout-everywhere', undefined, 400, 'token-cannot'],
      ];
      for (const [method, path, body, status, code] of refused) {
        const res = await s.api(method, path, { token: t.token, body });
        assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, code, `${method} ${path}`);
      }
      assert.equal(await s.login(ADMIN_EMAIL, ADMIN_PASSWORD).then(() => 'ok'), 'ok', 'the admin’s password is unchanged');
      assert.equal((await s.api('POST', '/api/auth/login', { body: { email: 'evil-admin@example.com', password: 'password-123' } })).status, 401, 'no admin was made');
      // What its scopes do allow.
      assert.equal((await s.api('POST', '/api/users', { token: t.token, body: { email: `scripted-${Date.now()}@example.com`, password: 'password-123', role: 'user' } })).status, 201);
      assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: t.token, body: { name: 'Renamed by script' } })).status, 200);
      const v = await s.api('POST', '/api/vehicles', { token: t.token, body: { name: `scripted-${Date.now()}` } });
      assert.equal(v.status, 201);
    });

    it('dies with what ends sessions: a password change, disabling (and stays dead after enabling), signing out everywhere', async () => {
      // A stolen 15-minute session mints a 365-day token; the owner's password reset ends it.
      const u = await user();
      const stolen = await make(u.accessToken, { name: 'stolen', expiresInDays: 365 });
      const changed = await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { password: 'password-456', currentPassword: 'password-123' } });
      assert.equal(changed.status, 200);
      assert.equal((await s.api('GET', '/api/users/me', { token: stolen.token })).status, 401, 'revoked by the password change');
      assert.equal((await s.api('GET', '/api/users/me', { token: u.accessToken })).status, 200, 'the session that changed it stays');

      const d = await user();
      const td = await make(d.accessToken);
      assert.equal((await s.api('PUT', `/api/users/${d.user.id}`, { token: admin.accessToken, body: { disabled: true } })).status, 200);
      assert.equal((await s.api('PUT', `/api/users/${d.user.id}`, { token: admin.accessToken, body: { disabled: false } })).status, 200);
      assert.equal((await s.api('GET', '/api/users/me', { token: td.token })).status, 401, 'enabling does not bring it back');

      const e = await user();
      const te = await make(e.accessToken);
      const other = await s.login(e.email, 'password-123');
      const out = await s.api('POST', '/api/auth/logout-everywhere', { token: e.accessToken });
      assert.equal(out.status, 200);
      assert.deepEqual(out.body, { tokensRevoked: 1 });
      assert.equal((await s.api('GET', '/api/users/me', { token: te.token })).status, 401);
      assert.equal((await s.api('GET', '/api/users/me', { token: other.accessToken })).status, 401, 'the other session ended');
      assert.equal((await s.api('GET', '/api/users/me', { token: e.accessToken })).status, 401, 'this one too');
    });

    for (const [why, body, field] of [
      ['an empty name', { name: '   ' }, 'name'],
      ['a missing name', { expiresInDays: 3 }, 'name'],
      ['a name over 64 characters', { name: 'x'.repeat(65) }, 'name'],
      ['zero days', { name: 'n', expiresInDays: 0 }, 'expiresInDays'],
      ['over a year', { name: 'n', expiresInDays: 366 }, 'expiresInDays'],
      ['a fraction of a day', { name: 'n', expiresInDays: 1.5 }, 'expiresInDays'],
      ['days as text', { name: 'n', expiresInDays: '7' }, 'expiresInDays'],
      ['an unknown field', { name: 'n', everything: true }, 'everything'],
      ['an unknown scope', { name: 'n', scopes: ['all'] }, 'scopes.0'],
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
