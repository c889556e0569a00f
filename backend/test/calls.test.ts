import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { turnCredentials } from '../src/calls/rtc.controller.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer } from './helpers/server.js';
import { connectPeer, sleep } from './helpers/sockets.js';
import { sqliteDatabase } from './helpers/databases.js';
import { callsSuite } from './suites/calls.suite.js';


describe('ring timeout', () => {
  it('ends an unanswered call after 30 s with reason timeout', { timeout: 45_000 }, async () => {
    const s = await startServer();
    try {
      const ids: Record<string, { token: string; id: string }> = {};
      for (const name of ['ann', 'ben']) {
        await s.api('POST', '/api/auth/signup', { body: { email: `${name}@example.com`, password: 'password-123', name } });
        const l = await s.login(`${name}@example.com`, 'password-123');
        ids[name] = { token: l.accessToken, id: l.user.id };
      }
      const a = await connectPeer(s.url, { token: ids.ann.token });
      const b = await connectPeer(s.url, { token: ids.ben.token });
      await sleep(50);
      const { callId } = await a.call('call:invite', { to: ids.ben.id });
      await b.next('call:incoming');
      for (const p of [a, b]) assert.deepEqual((await p.next('call:ended', undefined, 40_000)).at(0), { callId, reason: 'timeout' });
      a.close();
      b.close();
    } finally {
      await s.close();
    }
  });
});

describe('GET /api/rtc/config', () => {
  it('is empty with nothing configured, needs a signed-in user', async () => {
    const s = await startServer();
    try {
      const token = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      assert.deepEqual((await s.api('GET', '/api/rtc/config', { token })).body, { iceServers: [] });
      assert.equal((await s.api('GET', '/api/rtc/config')).status, 401);
    } finally {
      await s.close();
    }
  });

  it('gives STUN and time-limited TURN credentials from TURN_SECRET (coturn REST-API format)', async () => {
    const s = await startServer({ STUN_URLS: 'stun:stun.example.com:3478', TURN_URLS: 'turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349', TURN_SECRET: 'sh4red-secret', TURN_TTL_SECONDS: '600' });
    try {
      const login = await s.login(ADMIN_EMAIL, ADMIN_PASSWORD);
      const before = Math.floor(Date.now() / 1000);
      const { iceServers } = (await s.api('GET', '/api/rtc/config', { token: login.accessToken })).body;
      assert.deepEqual(iceServers[0], { urls: ['stun:stun.example.com:3478'] });
      const turn = iceServers[1];
      assert.deepEqual(turn.urls, ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349']);
      const [expiry, userId] = turn.username.split(':');
      assert.equal(userId, login.user.id);
      assert.ok(Number(expiry) >= before + 600 && Number(expiry) <= before + 602);
      assert.equal(turn.credential, createHmac('sha1', 'sh4red-secret').update(turn.username).digest('base64'));
    } finally {
      await s.close();
    }
  });

  it('gives static TURN credentials when set, and refuses TURN_URLS without any credential', async () => {
    const s = await startServer({ TURN_URLS: 'turn:t.example.com', TURN_USERNAME: 'u', TURN_CREDENTIAL: 'p' });
    try {
      const token = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      assert.deepEqual((await s.api('GET', '/api/rtc/config', { token })).body.iceServers, [{ urls: ['turn:t.example.com'], username: 'u', credential: 'p' }]);
    } finally {
      await s.close();
    }
    await assert.rejects(startServer({ TURN_URLS: 'turn:t.example.com' }), /TURN_URLS/);
  });

  it('computes credentials exactly as coturn checks them', () => {
    const c = turnCredentials('secret', 'user-1', 3600, 1_700_000_000_000);
    assert.equal(c.username, '1700003600:user-1');
    assert.equal(c.credential, createHmac('sha1', 'secret').update('1700003600:user-1').digest('base64'));
  });
});

callsSuite(sqliteDatabase);
