import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { connectPeer, sleep, type Peer } from '../helpers/sockets.js';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';

/** Face-chat signaling between real sockets; on SQLite and PostgreSQL. */
export function callsSuite(database: DatabaseFactory) {
  describe('face chat signaling', () => {
    let db: TestDatabase;
    let s: TestServer;
    let admin: string;
    const users: Record<string, { token: string; id: string }> = {};
    const peers: Peer[] = [];
    const peer = async (name: string) => {
      const p = await connectPeer(s.url, { token: users[name].token });
      peers.push(p);
      return p;
    };
    /** Two online users; A calls B and B accepts. */
    async function activeCall() {
      const a = await peer('ann');
      const b = await peer('ben');
      await sleep(50);
      const inv = await a.call('call:invite', { to: users.ben.id });
      assert.equal(inv.ok, true, JSON.stringify(inv));
      const [incoming] = await b.next('call:incoming');
      assert.deepEqual(incoming, { callId: inv.callId, from: { userId: users.ann.id, name: 'ann' } });
      assert.deepEqual(await b.call('call:accept', { callId: inv.callId }), { ok: true });
      await a.next('call:accepted', (x) => x.callId === inv.callId);
      return { a, b, callId: inv.callId as string };
    }

    before(async () => {
      db = await database();
      s = await startServer(db.env);
      admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      for (const name of ['ann', 'ben', 'cat', 'dan']) {
        await s.api('POST', '/api/auth/signup', { body: { email: `${name}@example.com`, password: 'password-123', name } });
        const l = await s.login(`${name}@example.com`, 'password-123');
        users[name] = { token: l.accessToken, id: l.user.id };
      }
    });
    after(async () => {
      for (const p of peers) p.close();
      await s.close();
      await db.cleanup();
    });

    it('invite → accept → signal relayed to the other party only → hangup ends it for both, and the call is logged', async () => {
      const { a, b, callId } = await activeCall();
      const eve = await peer('cat');
      const offer = { callId, description: { type: 'offer', sdp: 'v=0\r\n...' } };
      a.socket.emit('call:signal', offer);
      assert.deepEqual((await b.next('call:signal')).at(0), offer);
      const cand = { callId, candidate: { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: '0', sdpMLineIndex: 0 } };
      b.socket.emit('call:signal', cand);
      assert.deepEqual((await a.next('call:signal')).at(0), cand);
      await sleep(100);
      assert.equal(eve.count('call:signal'), 0, 'nobody else hears the signaling');
      assert.equal(a.count('call:signal'), 1, 'not echoed to the sender');
      assert.deepEqual(await a.call('call:hangup', { callId }), { ok: true });
      for (const p of [a, b]) assert.deepEqual((await p.next('call:ended')).at(0), { callId, reason: 'hangup' });
      await sleep(50);
      const log = await s.api('GET', '/api/calls', { token: admin });
      const row = log.body.items.find((c: any) => c.id === callId);
      assert.deepEqual([row.callerName, row.calleeName, row.endReason], ['ann', 'ben', 'hangup']);
      assert.ok(row.answeredAt && row.endedAt && row.durationSeconds >= 0);
      assert.equal((await s.api('GET', '/api/calls', { token: users.ann.token })).status, 403);
      assert.equal((await s.api('GET', '/api/calls?pageSize=0', { token: admin })).status, 400);
      a.close();
      b.close();
      eve.close();
    });

    it('decline ends the call with reason declined', async () => {
      const a = await peer('ann');
      const b = await peer('ben');
      await sleep(50);
      const { callId } = await a.call('call:invite', { to: users.ben.id });
      await b.next('call:incoming');
      await b.call('call:decline', { callId });
      assert.equal((await a.next('call:ended')).at(0).reason, 'declined');
      a.close();
      b.close();
    });

    it('refuses inviting yourself, an offline user, or a busy user; one call at a time', async () => {
      const { a, b, callId } = await activeCall();
      const c = await peer('cat');
      await sleep(50);
      const self = await c.call('call:invite', { to: users.cat.id });
      assert.equal(self.error.code, 'call-yourself');
      const offline = await c.call('call:invite', { to: users.dan.id });
      assert.equal(offline.error.code, 'user-offline');
      const unknown = await c.call('call:invite', { to: randomUUID() });
      assert.equal(unknown.error.code, 'user-offline');
      const busy = await c.call('call:invite', { to: users.ann.id });
      assert.equal(busy.error.code, 'busy');
      assert.equal((await c.next('error', (e) => e.code === 'busy')).at(0).event, 'call:invite');
      const second = await a.call('call:invite', { to: users.cat.id });
      assert.equal(second.error.code, 'busy', 'the caller is in a call already');
      await a.call('call:hangup', { callId });
      for (const p of [a, b, c]) p.close();
    });

    it('refuses signaling in a call you are not in, and a signal over 64 KiB', async () => {
      const { a, b, callId } = await activeCall();
      const c = await peer('cat');
      c.socket.emit('call:signal', { callId, description: { type: 'offer', sdp: 'x' } });
      assert.equal((await c.next('error')).at(0).code, 'not-in-call');
      assert.equal((await c.call('call:hangup', { callId })).error.code, 'not-in-call');
      a.socket.emit('call:signal', { callId, description: { type: 'offer', sdp: 'x'.repeat(70_000) } });
      const [big] = await a.next('error');
      assert.equal(big.code, 'invalid-payload');
      assert.match(big.message, /65536 bytes/);
      a.socket.emit('call:signal', { callId });
      assert.match((await a.next('error')).at(0).message, /description or a candidate/);
      await sleep(100);
      assert.equal(b.count('call:signal'), 0);
      await a.call('call:hangup', { callId });
      for (const p of [a, b, c]) p.close();
    });

    it("a party's disconnect ends the call for the other with peer-disconnected", async () => {
      const { a, b, callId } = await activeCall();
      b.close();
      assert.deepEqual((await a.next('call:ended', (e) => e.callId === callId)).at(0), { callId, reason: 'peer-disconnected' });
      const again = await peer('ben');
      await sleep(50);
      assert.equal((await a.call('call:invite', { to: users.ben.id })).ok, true, 'both are free again');
      a.close();
      again.close();
    });

    it('a callee going offline while it rings ends the call', async () => {
      const a = await peer('ann');
      const b = await peer('ben');
      await sleep(50);
      const { callId } = await a.call('call:invite', { to: users.ben.id });
      await b.next('call:incoming');
      b.close();
      assert.deepEqual((await a.next('call:ended', (e) => e.callId === callId)).at(0), { callId, reason: 'peer-disconnected' });
      a.close();
    });
  });
}
