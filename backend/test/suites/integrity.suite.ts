import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_ATTEMPTS } from '../../src/database/database.service.js';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';
import { http, startServerProcess, stopProcess } from '../helpers/process.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';

/**
 * Database integrity under concurrency, against a real server: no acknowledged write is lost to another request's
 * rollback, a failed unit of work leaves nothing, and acknowledged writes survive kill -9. Runs on SQLite and
 * PostgreSQL.
 */
export function integritySuite(database: DatabaseFactory) {
  describe('database integrity under concurrency', () => {
    let db: TestDatabase;
    let s: TestServer;
    let admin: { accessToken: string; user: any };
    let n = 0;
    const unique = (p: string) => `${p}-${++n}-${Date.now()}@example.com`;

    before(async () => {
      db = await database();
      s = await startServer(db.env);
      admin = await s.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    });
    after(async () => {
      await s?.close();
      await db?.cleanup();
    });

    /** Loops that keep failing inside transactions (409s) until stopped; counts what they got. */
    function failingNoise(takenEmail: string, victimId: string, otherEmail: string) {
      let running = true;
      const counts = { conflicts: 0, other: 0 };
      const loop = async (step: () => Promise<number>) => {
        while (running) {
          const status = await step();
          if (status === 409) counts.conflicts++;
          else counts.other++;
        }
      };
      const loops = [
        // Two anonymous clients signing up an email that exists: 409 from inside the insert's transaction.
        loop(async () => (await s.api('POST', '/api/auth/signup', { body: { email: takenEmail, password: 'password-123' } })).status),
        loop(async () => (await s.api('POST', '/api/auth/signup', { body: { email: takenEmail.toUpperCase(), password: 'password-123' } })).status),
        // An admin moving a user onto a taken email, and creating a duplicate: 409s, no hashing, many per second.
        loop(async () => (await s.api('PUT', `/api/users/${victimId}`, { token: admin.accessToken, body: { name: 'never', email: otherEmail } })).status),
        loop(async () => (await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: takenEmail, password: 'password-123', role: 'user' } })).status),
      ];
      return {
        counts,
        async stop() {
          running = false;
          await Promise.all(loops);
        },
      };
    }

    it('logouts and password resets stay done while other requests fail inside transactions', { timeout: 120_000 }, async () => {
      const email = unique('many');
      assert.equal((await s.api('POST', '/api/auth/signup', { body: { email, password: 'password-123' } })).status, 201);
      const sessions = [];
      for (let i = 0; i < 60; i++) sessions.push(await s.login(email, 'password-123'));
      const resetUsers = [];
      for (let i = 0; i < 8; i++) {
        const e = unique('reset');
        const made = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: e, password: 'password-123', role: 'user' } });
        assert.equal(made.status, 201);
        resetUsers.push({ id: made.body.id, sessions: [await s.login(e, 'password-123'), await s.login(e, 'password-123')] });
      }
      const victim = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: unique('victim'), password: 'password-123', role: 'user' } });
      const noise = failingNoise(email, victim.body.id, ADMIN_EMAIL);
      const results = await Promise.all([
        ...sessions.map((x) => s.api('POST', '/api/auth/logout', { token: x.accessToken }).then((r) => r.status)),
        ...resetUsers.map((u) => s.api('PUT', `/api/users/${u.id}`, { token: admin.accessToken, body: { password: 'another-password-1' } }).then((r) => r.status)),
      ]);
      await noise.stop();
      assert.deepEqual(results, [...sessions.map(() => 204), ...resetUsers.map(() => 200)]);
      assert.ok(noise.counts.conflicts > 0, 'the failing requests ran');

      let alive = 0;
      for (const x of [...sessions, ...resetUsers.flatMap((u) => u.sessions)]) {
        if ((await s.api('GET', '/api/users/me', { token: x.accessToken })).status !== 401) alive++;
        if ((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: x.refreshToken } })).status !== 401) alive++;
      }
      assert.equal(alive, 0, `${alive} revoked token(s) still work`);
      const victimNow = await s.api('GET', `/api/users/${victim.body.id}`, { token: admin.accessToken });
      assert.notEqual(victimNow.body.name, 'never', 'a failed update left nothing');
    });

    it('concurrent clients mixing succeeding and failing writes: every acknowledged write is there, every failed one left nothing', { timeout: 180_000 }, async (t) => {
      const CLIENTS = 8;
      const OPS = 30;
      const taken = unique('taken');
      assert.equal((await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: taken, password: 'password-123', role: 'user' } })).status, 201);
      const before = (await s.api('GET', '/api/users', { token: admin.accessToken })).body.length;
      const beforeVehicles = (await s.api('GET', '/api/vehicles', { token: admin.accessToken })).body.length;
      const acked = { users: new Map<string, string>(), vehicles: new Set<string>(), revoked: [] as { accessToken: string; refreshToken: string }[] };
      const failed = { users: new Set<string>(), vehicles: new Set<string>(), statuses: new Map<number, number>() };
      const count = (st: number) => failed.statuses.set(st, (failed.statuses.get(st) ?? 0) + 1);

      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          const me = unique(`client${c}`);
          const made = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: me, password: 'password-123', role: 'user' } });
          assert.equal(made.status, 201);
          acked.users.set(made.body.id, made.body.name);
          const session = await s.login(me, 'password-123');
          for (let i = 0; i < OPS; i++) {
            switch ((i + c) % 6) {
              case 0: {
                const name = `v${c}-${i}-${Date.now()}`;
                const r = await s.api('POST', '/api/vehicles', { token: admin.accessToken, body: { name } });
                if (r.status === 201) acked.vehicles.add(r.body.id);
                else count(r.status);
                // The same name again must fail and add nothing.
                const dup = await s.api('POST', '/api/vehicles', { token: admin.accessToken, body: { name } });
                assert.equal(dup.status, 409);
                break;
              }
              case 1: {
                // A rename together with a taken email: 409, and the rename must not stick.
                const r = await s.api('PUT', `/api/users/${made.body.id}`, { token: session.accessToken, body: { name: `lost-${c}-${i}`, email: taken } });
                assert.equal(r.status, 409);
                break;
              }
              case 2: {
                const name = `kept-${c}-${i}`;
                const r = await s.api('PUT', `/api/users/${made.body.id}`, { token: session.accessToken, body: { name } });
                if (r.status === 200) acked.users.set(made.body.id, name);
                else count(r.status);
                break;
              }
              case 3: {
                const e = unique(`made${c}`);
                const r = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: e, password: 'password-123', role: 'user' } });
                if (r.status === 201) acked.users.set(r.body.id, r.body.name);
                else count(r.status);
                const dup = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: e, password: 'password-123', role: 'user' } });
                assert.equal(dup.status, 409);
                break;
              }
              case 4: {
                const extra = await s.login(me, 'password-123');
                const r = await s.api('POST', '/api/auth/logout', { token: extra.accessToken });
                if (r.status === 204) acked.revoked.push(extra);
                else count(r.status);
                break;
              }
              case 5: {
                // Invalid input is refused before any write.
                const r = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: `bad-${c}-${i}`, password: 'x', role: 'root' } });
                assert.equal(r.status, 400);
                break;
              }
            }
          }
        }),
      );
      assert.equal(failed.statuses.size, 0, `unexpected failures: ${JSON.stringify([...failed.statuses])}`);

      // Read back after a restart: what the server acknowledged is in the database, nothing else is.
      const sentAgain = s.busyRetries;
      await s.close(false);
      s = await startServer(db.env);
      admin = await s.login(ADMIN_EMAIL, ADMIN_PASSWORD);
      const users = (await s.api('GET', '/api/users', { token: admin.accessToken })).body as any[];
      assert.equal(users.length, before + acked.users.size, 'users: acknowledged creations, and only those');
      const byId = new Map(users.map((u) => [u.id, u]));
      for (const [id, name] of acked.users) assert.equal(byId.get(id)?.name, name, `user ${id} has its last acknowledged name`);
      assert.ok(!users.some((u) => u.name.startsWith('lost-')), 'no failed rename stuck');
      const vehicles = (await s.api('GET', '/api/vehicles', { token: admin.accessToken })).body as any[];
      assert.equal(vehicles.length, beforeVehicles + acked.vehicles.size);
      for (const id of acked.vehicles) assert.ok(vehicles.some((v) => v.id === id));
      for (const x of acked.revoked) {
        assert.equal((await s.api('GET', '/api/users/me', { token: x.accessToken })).status, 401);
        assert.equal((await s.api('POST', '/api/auth/refresh', { body: { refreshToken: x.refreshToken } })).status, 401);
      }
      t.diagnostic(`integrity (${db.label}): ${CLIENTS} clients × ${OPS} ops: ${acked.users.size} users, ${acked.vehicles.size} vehicles, ${acked.revoked.length} sign-outs acknowledged — all found after restart; ${sentAgain} request(s) sent again after 503 database-busy`);
    });

    it('a unit of work that keeps conflicting is tried again; one that conflicts through every attempt answers 503 with Retry-After and writes nothing', { timeout: 60_000 }, async (t) => {
      if (db.label !== 'PostgreSQL') return t.skip('SQLite runs one unit of work at a time: nothing conflicts');
      const made = await s.api('POST', '/api/users', { token: admin.accessToken, body: { email: unique('busy'), password: 'password-123', role: 'user' } });
      assert.equal(made.status, 201);
      // Real serialization failures from PostgreSQL: while the counter (a sequence: not rolled back) is at most the
      // limit, every update of users fails with 40001, as a conflicting concurrent transaction would make it.
      await db.query(`CREATE SEQUENCE busy_attempts`);
      await db.query(`CREATE TABLE busy_limit (n int NOT NULL)`);
      await db.query(`INSERT INTO busy_limit VALUES (3)`);
      await db.query(`CREATE FUNCTION busy_conflict() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF nextval('busy_attempts') <= (SELECT n FROM busy_limit) THEN
            RAISE EXCEPTION 'could not serialize access (test)' USING ERRCODE = '40001';
          END IF;
          RETURN NEW;
        END $$`);
      await db.query(`CREATE TRIGGER busy_conflict BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION busy_conflict()`);
      const attempts = async () => Number((await db.query(`SELECT last_value FROM busy_attempts`))[0].last_value);
      const nameNow = async () => (await db.query(`SELECT name FROM users WHERE id = $1`, [made.body.id]))[0].name;
      try {
        // Three conflicts, then the fourth attempt goes through: the client sees only its 200.
        const retried = await s.api('PUT', `/api/users/${made.body.id}`, { token: admin.accessToken, body: { name: 'after three conflicts' }, once: true });
        assert.equal(retried.status, 200, JSON.stringify(retried.body));
        assert.equal(retried.body.name, 'after three conflicts');
        assert.equal(await attempts(), 4, 'three conflicting attempts and the one that went through');
        assert.equal(await nameNow(), 'after three conflicts');

        // Conflicts on every attempt: 503, the error shape with its code, Retry-After, and the row unchanged.
        await db.query(`UPDATE busy_limit SET n = 1000000`);
        await db.query(`ALTER SEQUENCE busy_attempts RESTART`);
        const refused = await s.api('PUT', `/api/users/${made.body.id}`, { token: admin.accessToken, body: { name: 'never written' }, once: true });
        assert.equal(refused.status, 503);
        assert.equal(refused.body.code, 'database-busy');
        assert.equal(refused.body.statusCode, 503);
        assert.match(refused.body.message, /try again/);
        assert.equal(refused.headers.get('retry-after'), '1');
        const tried = await attempts();
        assert.equal(tried, MAX_ATTEMPTS, 'every attempt was made before giving up');
        assert.equal(await nameNow(), 'after three conflicts', 'the refused update wrote nothing');
        t.diagnostic(`a unit of work conflicting every time was tried ${tried} times, then answered 503`);
      } finally {
        await db.query(`DROP TRIGGER busy_conflict ON users`);
        await db.query(`DROP FUNCTION busy_conflict`);
        await db.query(`DROP TABLE busy_limit`);
        await db.query(`DROP SEQUENCE busy_attempts`);
      }
      // The conflicts gone, the same request goes through.
      const later = await s.api('PUT', `/api/users/${made.body.id}`, { token: admin.accessToken, body: { name: 'written later' } });
      assert.equal(later.status, 200);
      assert.equal(await nameNow(), 'written later');
    });

    it('kill -9 under write load: every acknowledged write survives, no unit of work is half there', { timeout: 180_000 }, async (t) => {
      await s.close(false);
      const proc = await startServerProcess(db.env);
      let adminToken: string;
      try {
        adminToken = (await http(proc.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.accessToken;
        const ackedVehicles = new Set<string>();
        const ackedLogins: string[] = [];
        let stop = false;
        const writers = Array.from({ length: 6 }, async (_, w) => {
          for (let i = 0; !stop; i++) {
            try {
              if (w === 0) {
                const r = await http(proc.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
                if (r.status === 200) ackedLogins.push(r.body.refreshToken);
              } else {
                const r = await http(proc.url, 'POST', '/api/vehicles', { token: adminToken, body: { name: `k${w}-${i}-${Date.now()}` } });
                if (r.status === 201) ackedVehicles.add(r.body.id);
              }
            } catch {
              return; // the server is gone
            }
          }
        });
        while (ackedVehicles.size < 60) await new Promise((r) => setTimeout(r, 20));
        proc.child.kill('SIGKILL');
        stop = true;
        await Promise.all(writers);
        assert.equal((await proc.exited).signal, 'SIGKILL');

        // Straight from the database files, before anything else opens them.
        const ids = new Set((await db.query<{ id: string }>('SELECT id FROM vehicles')).map((r) => r.id));
        for (const id of ackedVehicles) assert.ok(ids.has(id), `acknowledged vehicle ${id} survived`);
        // A sign-in writes a session and its refresh token in one transaction: never one without the other.
        const orphans = await db.query('SELECT s.id FROM sessions s LEFT JOIN refresh_tokens t ON t."sessionId" = s.id WHERE t.id IS NULL');
        assert.equal(orphans.length, 0, 'no session without its refresh token');

        const again = await startServerProcess(db.env);
        try {
          for (const refreshToken of ackedLogins) {
            assert.equal((await http(again.url, 'POST', '/api/auth/refresh', { body: { refreshToken } })).status, 200, 'an acknowledged sign-in survived');
          }
        } finally {
          await stopProcess(again);
        }
        t.diagnostic(`kill -9 (${db.label}): ${ackedVehicles.size} vehicles and ${ackedLogins.length} sign-ins acknowledged before the kill, all found after it`);
      } finally {
        await stopProcess(proc, 'SIGKILL');
        s = await startServer(db.env);
      }
    });
  });
}
