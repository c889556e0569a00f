import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';

/** The accounts contract, run against SQLite and (in the pg tier) PostgreSQL through the same real HTTP stack. */
export function accountsSuite(database: DatabaseFactory) {
  describe('accounts REST contract', () => {
    let s: TestServer;
    let db: TestDatabase;
    let admin: { accessToken: string; refreshToken: string; user: any };
    let counter = 0;
    const unique = (p = 'u') => `${p}${++counter}-${Date.now()}@example.com`;
    const signup = async (email = unique(), password = 'password-123', name?: string) => {
      const res = await s.api('POST', '/api/auth/signup', { body: { email, password, name } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const session = await s.login(email, password);
      return { email, password, ...session };
    };

    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    before(async () => {
      db = await database();
      s = await startServer(db.env);
      admin = await s.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    });
    after(async () => {
      await s.close();
      await db.cleanup();
    });

    describe('POST /api/auth/signup', () => {
      it('creates a user with role user and no secret in the answer', async () => {
        const email = unique('Sign');
        const res = await s.api('POST', '/api/auth/signup', { body: { email, password: 'password-123', name: 'Sign Up' } });
        assert.equal(res.status, 201);
        assert.equal(res.body.email, email.toLowerCase());
        assert.equal(res.body.role, 'user');
        assert.equal(res.body.name, 'Sign Up');
        assert.ok(!JSON.stringify(res.body).match(/password|hash|token/i));
      });
      for (const [why, body, field] of [
        ['a bad email', { email: 'not-an-email', password: 'password-123' }, 'email'],
        ['a password under 8 characters', { email: 'short@example.com', password: 'short' }, 'password'],
        ['a password over 128 characters', { email: 'long@example.com', password: 'x'.repeat(129) }, 'password'],
        ['an unknown field', { email: 'extra@example.com', password: 'password-123', role: 'admin' }, 'role'],
        ['a missing password', { email: 'nopw@example.com' }, 'password'],
        ['a non-string email', { email: 42, password: 'password-123' }, 'email'],
      ] as const) {
        it(`answers 400 naming the field for ${why}`, async () => {
          const res = await s.api('POST', '/api/auth/signup', { body });
          assert.equal(res.status, 400);
          assert.deepEqual(Object.keys(res.body).sort(), ['code', 'details', 'error', 'message', 'statusCode']);
          assert.equal(res.body.code, 'invalid-request');
          assert.ok(res.body.details.some((d: any) => d.field === field), JSON.stringify(res.body));
          assert.match(res.body.message, new RegExp(field));
        });
      }
      it('answers 400 for a body that is not JSON', async () => {
        const res = await s.api('POST', '/api/auth/signup', { raw: '{"email":', headers: { 'content-type': 'application/json' } });
        assert.equal(res.status, 400);
        assert.equal(res.body.error, 'Bad Request');
      });
      it('answers 409 for an email taken in another case', async () => {
        const email = unique('dup');
        assert.equal((await s.api('POST', '/api/auth/signup', { body: { email, password: 'password-123' } })).status, 201);
        const res = await s.api('POST', '/api/auth/signup', { body: { email: email.toUpperCase(), password: 'password-456' } });
        assert.equal(res.status, 409);
        assert.equal(res.body.statusCode, 409);
      });
    });

    describe('POST /api/auth/login', () => {
      it('answers the token pair, expiry and user, and sets the HttpOnly refresh cookie', async () => {
        const res = await s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL.toUpperCase(), password: ADMIN_PASSWORD } });
        assert.equal(res.status, 200);
        assert.equal(res.body.expiresIn, 900);
        assert.equal(res.body.user.role, 'admin');
        assert.ok(res.body.accessToken.split('.').length === 3);
        const cookie = res.headers.get('set-cookie') ?? '';
        assert.match(cookie, /vicer_refresh=/);
        assert.match(cookie, /HttpOnly/i);
        assert.match(cookie, /SameSite=Strict/i);
        assert.match(cookie, /Path=\/api\/auth/);
        assert.doesNotMatch(cookie, /Secure/);
      });
      it('answers the same 401 for an unknown email and a wrong password', async () => {
        const unknown = await s.api('POST', '/api/auth/login', { body: { email: unique('ghost'), password: 'whatever-1' } });
        const wrong = await s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: 'wrong-password' }, headers: { 'x-forwarded-for': '1.1.1.1' } });
        assert.equal(unknown.status, 401);
        assert.equal(wrong.status, 401);
        assert.equal(unknown.body.message, wrong.body.message);
      });
      it('throttles after 5 failures per ip + email with 429 and Retry-After, and success resets it', async () => {
        const u = await signup();
        for (let i = 0; i < 4; i++) assert.equal((await s.api('POST', '/api/auth/login', { body: { email: u.email, password: 'bad-password' } })).status, 401);
        assert.equal((await s.api('POST', '/api/auth/login', { body: { email: u.email, password: u.password } })).status, 200, 'success resets the count');
        for (let i = 0; i < 5; i++) assert.equal((await s.api('POST', '/api/auth/login', { body: { email: u.email, password: 'bad-password' } })).status, 401);
        const blocked = await s.api('POST', '/api/auth/login', { body: { email: u.email, password: u.password } });
        assert.equal(blocked.status, 429);
        const wait = Number(blocked.headers.get('retry-after'));
        assert.ok(wait > 0 && wait <= 900, `Retry-After ${wait}`);
        assert.match(blocked.body.message, /try again/);
        const otherUser = await s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
        assert.equal(otherUser.status, 200, 'another email from the same ip is not throttled');
      });
    });

    describe('POST /api/auth/refresh', () => {
      /** Moves a token's rotation into the past, as if the grace window had run out (no waiting in tests). */
      const ageRotation = (refreshToken: string) => {
        const sql = 'UPDATE refresh_tokens SET "rotatedAt" = $1 WHERE "tokenHash" = $2';
        return db.label === 'SQLite'
          ? db.query(sql.replace(/\$\d/g, '?'), ['2000-01-01 00:00:00.000', sha(refreshToken)])
          : db.query(sql, [new Date('2000-01-01T00:00:00Z'), sha(refreshToken)]);
      };
      it('rotates: a new pair; the old token reused after the grace window revokes the whole session', async () => {
        const u = await signup();
        const first = await s.api('POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
        assert.equal(first.status, 200);
        assert.notEqual(first.body.refreshToken, u.refreshToken);
        assert.equal((await s.api('GET', '/api/users/me', { token: first.body.accessToken })).status, 200);
        await ageRotation(u.refreshToken);
        const reuse = await s.api('POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } });
        assert.equal(reuse.status, 401);
        assert.match(reuse.body.message, /reused/);
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: first.body.refreshToken } })).status, 401, 'the family is revoked');
        assert.equal((await s.api('GET', '/api/users/me', { token: first.body.accessToken })).status, 401, 'its access tokens too');
      });
      it('two tabs refreshing at once: 10 parallel refreshes of one token all get the same successor, and the session lives', async () => {
        const u = await signup();
        const all = await Promise.all(Array.from({ length: 10 }, () => s.api('POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } })));
        assert.deepEqual(
          all.map((r) => r.status),
          all.map(() => 200),
        );
        assert.equal(new Set(all.map((r) => r.body.refreshToken)).size, 1, 'one successor');
        const successor = all[0].body.refreshToken;
        for (const r of all) assert.equal((await s.api('GET', '/api/users/me', { token: r.body.accessToken })).status, 200);
        const next = await s.api('POST', '/api/auth/refresh', { body: { refreshToken: successor } });
        assert.equal(next.status, 200, 'the session was not revoked');
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: next.body.refreshToken } })).status, 200);
      });
      it('accepts the refresh cookie when the body has none, and with an empty JSON body', async () => {
        const u = await signup();
        const res = await s.api('POST', '/api/auth/refresh', { body: {}, headers: { cookie: `vicer_refresh=${u.refreshToken}` } });
        assert.equal(res.status, 200);
        assert.match(res.headers.get('set-cookie') ?? '', /vicer_refresh=/);
        const empty = await s.api('POST', '/api/auth/refresh', { raw: '', headers: { 'content-type': 'application/json', cookie: `vicer_refresh=${res.body.refreshToken}` } });
        assert.equal(empty.status, 200, JSON.stringify(empty.body));
        const none = await s.api('POST', '/api/auth/refresh', { headers: { cookie: `vicer_refresh=${empty.body.refreshToken}` } });
        assert.equal(none.status, 200, JSON.stringify(none.body));
      });
      it('answers 401 for an unknown, over-long or missing token', async () => {
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: 'nope' } })).status, 401);
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: {} })).status, 401);
        const long = await s.api('POST', '/api/auth/refresh', { body: { refreshToken: 'x'.repeat(300) } });
        assert.equal(long.status, 400);
        assert.match(long.body.message, /refreshToken: is too long/);
      });
    });

    describe('POST /api/auth/logout', () => {
      it('answers 204, revokes the session, and needs a signed-in caller', async () => {
        const u = await signup();
        assert.equal((await s.api('POST', '/api/auth/logout')).status, 401);
        assert.equal((await s.api('POST', '/api/auth/logout', { token: u.accessToken })).status, 204);
        assert.equal((await s.api('GET', '/api/users/me', { token: u.accessToken })).status, 401);
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } })).status, 401);
      });
    });

    describe('GET /api/users', () => {
      it('gives an admin every user, a user only themself, anonymous 401', async () => {
        const u = await signup();
        const all = await s.api('GET', '/api/users', { token: admin.accessToken });
        assert.equal(all.status, 200);
        assert.ok(all.body.length >= 2);
        assert.ok(all.body.some((x: any) => x.email === u.email));
        assert.ok(!JSON.stringify(all.body).match(/passwordHash|\$argon2/));
        const mine = await s.api('GET', '/api/users', { token: u.accessToken });
        assert.deepEqual(mine.body.map((x: any) => x.email), [u.email]);
        const anon = await s.api('GET', '/api/users');
        assert.equal(anon.status, 401);
        assert.equal(anon.body.error, 'Unauthorized');
        assert.equal((await s.api('GET', '/api/users', { token: 'garbage' })).status, 401);
      });
      it('GET /api/users/me and /:id: self always, others admin only, 404 unknown', async () => {
        const u = await signup();
        const other = await signup();
        assert.equal((await s.api('GET', '/api/users/me', { token: u.accessToken })).body.id, u.user.id);
        assert.equal((await s.api('GET', `/api/users/${u.user.id}`, { token: u.accessToken })).status, 200);
        assert.equal((await s.api('GET', `/api/users/${other.user.id}`, { token: u.accessToken })).status, 403);
        assert.equal((await s.api('GET', `/api/users/${other.user.id}`, { token: admin.accessToken })).status, 200);
        assert.equal((await s.api('GET', '/api/users/00000000-0000-4000-8000-000000000000', { token: admin.accessToken })).status, 404);
      });
    });

    describe('POST /api/users', () => {
      it('lets an admin create any role; 400, 409; 403 for a user', async () => {
        const u = await signup();
        const email = unique('made');
        const made = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email, password: 'password-123', role: 'admin', name: 'Made' } });
        assert.equal(made.status, 201);
        assert.equal(made.body.role, 'admin');
        assert.equal((await s.api('POST', '/api/users', { token: admin.accessToken, body: { email, password: 'password-123', role: 'user' } })).status, 409);
        const bad = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: unique(), password: 'password-123', role: 'root' } });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.details[0].field, 'role');
        assert.equal((await s.api('POST', '/api/users', { token: u.accessToken, body: { email: unique(), password: 'password-123', role: 'user' } })).status, 403);
        await s.api('DELETE', `/api/users/${made.body.id}`, { token: admin.accessToken });
      });
    });

    describe('PUT /api/users/:id', () => {
      it('lets users edit their own name and email; 409 on a taken email', async () => {
        const u = await signup();
        const other = await signup();
        const res = await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { name: 'New Name' } });
        assert.equal(res.status, 200);
        assert.equal(res.body.name, 'New Name');
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { email: other.email.toUpperCase() } })).status, 409);
        const moved = unique('moved');
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { email: moved } })).body.email, moved);
      });
      it('refuses a user editing someone else, or any role/disabled change by a non-admin (403)', async () => {
        const u = await signup();
        const other = await signup();
        assert.equal((await s.api('PUT', `/api/users/${other.user.id}`, { token: u.accessToken, body: { name: 'x' } })).status, 403);
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { role: 'admin' } })).status, 403);
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { disabled: false } })).status, 403);
        assert.equal((await s.api('GET', '/api/users/me', { token: u.accessToken })).body.role, 'user');
      });
      it('needs currentPassword for your own password change, then only the new one signs in', async () => {
        const u = await signup();
        const missing = await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { password: 'brand-new-pass' } });
        assert.equal(missing.status, 400);
        assert.equal(missing.body.details[0].field, 'currentPassword');
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { password: 'brand-new-pass', currentPassword: 'wrong-one' } })).status, 400);
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: u.accessToken, body: { password: 'brand-new-pass', currentPassword: u.password } })).status, 200);
        assert.equal((await s.api('POST', '/api/auth/login', { body: { email: u.email, password: u.password } })).status, 401);
        assert.equal((await s.api('POST', '/api/auth/login', { body: { email: u.email, password: 'brand-new-pass' } })).status, 200);
        assert.equal((await s.api('GET', '/api/users/me', { token: u.accessToken })).status, 200, 'the session that changed it stays');
      });
      it('answers 400 for invalid fields and 404 for an unknown id', async () => {
        const u = await signup();
        const bad = await s.api('PUT', `/api/users/${u.user.id}`, { token: admin.accessToken, body: { name: '', disabled: 'yes' } });
        assert.equal(bad.status, 400);
        assert.deepEqual(bad.body.details.map((d: any) => d.field).sort(), ['disabled', 'name']);
        assert.equal((await s.api('PUT', '/api/users/00000000-0000-4000-8000-000000000000', { token: admin.accessToken, body: { name: 'x' } })).status, 404);
      });
      it('lets an admin change roles; the last admin cannot be demoted or disabled (409)', async () => {
        const u = await signup();
        const promoted = await s.api('PUT', `/api/users/${u.user.id}`, { token: admin.accessToken, body: { role: 'admin' } });
        assert.equal(promoted.body.role, 'admin');
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: admin.accessToken, body: { role: 'user' } })).body.role, 'user');
        const list = await s.api('GET', '/api/users', { token: admin.accessToken });
        const admins = list.body.filter((x: any) => x.role === 'admin' && !x.disabled);
        assert.equal(admins.length, 1);
        const demote = await s.api('PUT', `/api/users/${admin.user.id}`, { token: admin.accessToken, body: { role: 'user' } });
        assert.equal(demote.status, 409);
        assert.equal((await s.api('PUT', `/api/users/${admin.user.id}`, { token: admin.accessToken, body: { disabled: true } })).status, 409);
        assert.equal((await s.api('GET', '/api/users/me', { token: admin.accessToken })).body.role, 'admin', 'nothing changed');
      });
      it('a disabled user cannot sign in, refresh, or use a live token', async () => {
        const u = await signup();
        assert.equal((await s.api('PUT', `/api/users/${u.user.id}`, { token: admin.accessToken, body: { disabled: true } })).body.disabled, true);
        assert.equal((await s.api('GET', '/api/users/me', { token: u.accessToken })).status, 401);
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: u.refreshToken } })).status, 401);
        const login = await s.api('POST', '/api/auth/login', { body: { email: u.email, password: u.password } });
        assert.equal(login.status, 401);
        assert.match(login.body.message, /disabled/);
        await s.api('PUT', `/api/users/${u.user.id}`, { token: admin.accessToken, body: { disabled: false } });
        assert.equal((await s.api('POST', '/api/auth/login', { body: { email: u.email, password: u.password } })).status, 200);
      });
    });

    describe('DELETE /api/users/:id', () => {
      it('is admin only: 204, then 404; 403 for a user; 409 for the last admin', async () => {
        const u = await signup();
        const victim = await signup();
        assert.equal((await s.api('DELETE', `/api/users/${victim.user.id}`, { token: u.accessToken })).status, 403);
        assert.equal((await s.api('DELETE', `/api/users/${victim.user.id}`, { token: admin.accessToken })).status, 204);
        assert.equal((await s.api('DELETE', `/api/users/${victim.user.id}`, { token: admin.accessToken })).status, 404);
        assert.equal((await s.api('GET', '/api/users/me', { token: victim.accessToken })).status, 401);
        assert.equal((await s.api('DELETE', `/api/users/${admin.user.id}`, { token: admin.accessToken })).status, 409);
      });
    });

    describe('bodies, field errors, cross-site requests and tokens', () => {
      it('accepts only JSON bodies: a form post or plain text is 415 and changes nothing', async () => {
        const email = unique('form');
        for (const [type, raw] of [
          ['application/x-www-form-urlencoded', `email=${encodeURIComponent(email)}&password=password-123`],
          ['text/plain', JSON.stringify({ email, password: 'password-123' })],
          ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="email"\r\n\r\n${email}\r\n--x--`],
        ]) {
          const res = await s.api('POST', '/api/auth/signup', { raw, headers: { 'content-type': type } });
          assert.equal(res.status, 415, `${type}: ${JSON.stringify(res.body)}`);
          assert.match(res.body.message, /JSON/);
        }
        assert.equal((await s.api('POST', '/api/auth/login', { raw: `email=${ADMIN_EMAIL}&password=${ADMIN_PASSWORD}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status, 415);
        assert.equal((await s.api('POST', '/api/auth/login', { body: { email, password: 'password-123' } })).status, 401, 'no account was made');
      });
      it('a null, array, or too-deep body is a 400 naming the body', async () => {
        for (const raw of ['null', '[]', '"text"', '['.repeat(5000) + ']'.repeat(5000), '{"a":'.repeat(100) + '1' + '}'.repeat(100)]) {
          const res = await s.api('POST', '/api/auth/signup', { raw, headers: { 'content-type': 'application/json' } });
          assert.equal(res.status, 400, raw.slice(0, 20));
          assert.equal(res.body.details[0].field, '(body)');
        }
        assert.equal((await s.api('GET', '/api/health')).status, 200);
      });
      it('a missing field "is required", a wrong type "must be …", an over-long one "is too long"', async () => {
        const missing = await s.api('POST', '/api/auth/signup', { body: {} });
        assert.equal(missing.status, 400);
        assert.deepEqual(missing.body.details, [
          { field: 'email', message: 'is required', code: 'required' },
          { field: 'password', message: 'is required', code: 'required' },
        ]);
        const wrong = await s.api('POST', '/api/auth/signup', { body: { email: 7, password: true } });
        assert.deepEqual(
          wrong.body.details.map((d: any) => `${d.message} (${d.code})`),
          ['must be a string (invalid-type)', 'must be a string (invalid-type)'],
        );
        const long = await s.api('POST', '/api/auth/signup', { body: { email: unique('long'), password: 'password-123', name: 'n'.repeat(81) } });
        assert.equal(long.status, 400);
        assert.deepEqual(long.body.details, [{ field: 'name', message: 'is too long (at most 80 characters)', code: 'too-long', limit: 80 }]);
        const short = await s.api('POST', '/api/auth/signup', { body: { email: 'not-mail', password: 'short' } });
        assert.deepEqual(
          short.body.details.map((d: any) => [d.field, d.code, d.limit]),
          [
            ['email', 'invalid-email', undefined],
            ['password', 'too-short', 8],
          ],
          'every field error has a stable code (and its limit) for clients to word it',
        );
        const bad = await s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: 'wrong-password' } });
        assert.deepEqual([bad.status, bad.body.code], [401, 'bad-credentials']);
        const taken = await s.api('POST', '/api/auth/signup', { body: { email: ADMIN_EMAIL, password: 'password-123' } });
        assert.deepEqual([taken.status, taken.body.code], [409, 'email-taken']);
        const badId = await s.api('GET', '/api/users/not-a-uuid', { token: admin.accessToken });
        assert.equal(badId.status, 400);
        assert.equal(badId.body.details[0].field, 'id');
      });
      it('refuses a browser request from another site (403), allows the own origin and programs', async () => {
        const u = await signup();
        const evil = { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' };
        const login = await s.api('POST', '/api/auth/login', { body: { email: u.email, password: u.password }, headers: evil });
        assert.equal(login.status, 403);
        assert.match(login.body.message, /Cross-site/);
        assert.equal(login.headers.get('set-cookie'), null, 'no session cookie was set');
        const refresh = await s.api('POST', '/api/auth/refresh', { body: {}, headers: { ...evil, cookie: `vicer_refresh=${u.refreshToken}` } });
        assert.equal(refresh.status, 403);
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: {}, headers: { origin: 'http://evil.example', cookie: `vicer_refresh=${u.refreshToken}` } })).status, 403, 'Origin alone tells');
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: {}, headers: { origin: 'null', cookie: `vicer_refresh=${u.refreshToken}` } })).status, 403);
        const own = new URL(s.url).origin;
        const same = await s.api('POST', '/api/auth/refresh', { body: {}, headers: { origin: own, 'sec-fetch-site': 'same-origin', cookie: `vicer_refresh=${u.refreshToken}` } });
        assert.equal(same.status, 200, 'the web app itself');
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: same.body.refreshToken } })).status, 200, 'a program sends neither header');
        const listed = await startServer({ ...db.env, CORS_ORIGINS: 'http://app.example' });
        try {
          const ok = await listed.api('POST', '/api/auth/login', { body: { email: u.email, password: u.password }, headers: { origin: 'http://app.example', 'sec-fetch-site': 'cross-site' } });
          assert.equal(ok.status, 200, 'an origin in CORS_ORIGINS may');
          assert.equal(ok.headers.get('access-control-allow-origin'), 'http://app.example');
        } finally {
          await listed.close();
        }
      });
      it('refuses a JWT without exp, even signed with the server key', async () => {
        const u = await signup();
        const claims = JSON.parse(Buffer.from(u.accessToken.split('.')[1], 'base64url').toString());
        const secret = readFileSync(join(s.dataDir, 'jwt-secret'), 'utf8').trim();
        const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: claims.sub, sid: claims.sid, iat: claims.iat })}`;
        const forever = `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
        const res = await s.api('GET', '/api/users/me', { token: forever });
        assert.equal(res.status, 401);
        assert.equal((await s.api('GET', '/api/users/me', { token: u.accessToken })).status, 200, 'the same claims with exp work');
      });
    });

    describe('health and docs', () => {
      it('HEAD /api/health: 200, empty body, uptime and version headers', async () => {
        const res = await s.api('HEAD', '/api/health');
        assert.equal(res.status, 200);
        assert.equal(res.body, '');
        assert.match(res.headers.get('x-uptime-seconds') ?? '', /^\d+$/);
        assert.match(res.headers.get('x-version') ?? '', /^\d+\.\d+\.\d+/);
      });
      it('GET /api/health reports the database', async () => {
        const res = await s.api('GET', '/api/health');
        assert.equal(res.status, 200);
        assert.equal(res.body.status, 'ok');
        assert.equal(res.body.db, 'up');
      });
      it('serves OpenAPI generated from the protocol module, and Swagger UI', async () => {
        const res = await s.api('GET', '/api/docs-json');
        assert.equal(res.status, 200);
        assert.equal(res.body.components.securitySchemes.bearer.scheme, 'bearer');
        assert.deepEqual(res.body.components.schemas.SignupRequest.required.sort(), ['email', 'password']);
        assert.ok(res.body.paths['/api/users/{id}'].put);
        assert.equal((await s.api('GET', '/api/docs')).status, 200);
      });
      it('sends security headers and a request id', async () => {
        const res = await s.api('GET', '/api/health', { headers: { 'x-request-id': 'trace-42' } });
        assert.equal(res.headers.get('x-request-id'), 'trace-42');
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
        const csp = res.headers.get('content-security-policy') ?? '';
        assert.match(csp, /default-src 'self'/);
        assert.match(csp, /connect-src 'self'(;|$)/, 'sockets to the own origin only, not any ws: host');
      });
    });
  });
}
