import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startNginx, type TestNginx } from './helpers/cluster.js';
import { http, startServerProcess, stopProcess, type ServerProcess } from './helpers/process.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';

/**
 * Behind the shipped nginx config with TRUST_PROXY=1, as docs/deploy.md sets it up: the client address is the one
 * nginx saw, whatever X-Forwarded-For the client wrote itself.
 */
describe('behind nginx with TRUST_PROXY=1', () => {
  let dir: string;
  let server: ServerProcess;
  let nginx: TestNginx;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vicer-proxy-'));
    server = await startServerProcess({ DATA_DIR: dir, TRUST_PROXY: '1' });
    nginx = await startNginx([server.port]);
  });
  after(async () => {
    await nginx.stop();
    await stopProcess(server);
    rmSync(dir, { recursive: true, force: true });
  });

  it('30 wrong passwords with a rotated X-Forwarded-For still hit the sign-in throttle; the auth log keeps the real address', async () => {
    // Signed in first: the attack throttles this address for the admin's email.
    const admin = (await http(server.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.accessToken;
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await http(nginx.url, 'POST', '/api/auth/login', {
        body: { email: ADMIN_EMAIL, password: `wrong-${i}` },
        headers: { 'x-forwarded-for': `198.51.100.${i}` },
      });
      statuses.push(res.status);
    }
    assert.ok(statuses.filter((s) => s === 429).length >= 20, `answers: ${statuses.join(' ')}`);
    assert.equal(statuses.indexOf(429), 5, 'throttled after the fifth failure');

    // Auth events are written after the answer: wait (bounded) until all 30 are in.
    const failures = async () => ((await http(server.url, 'GET', '/api/auth-events?pageSize=100', { token: admin })).body.items as { ip: string; outcome: string }[]).filter((e) => e.outcome !== 'success');
    let failed = await failures();
    for (let i = 0; i < 50 && failed.length < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      failed = await failures();
    }
    assert.equal(failed.length, 30);
    assert.equal(failed.filter((e) => e.outcome === 'throttled').length, statuses.filter((s) => s === 429).length);
    assert.deepEqual([...new Set(failed.map((e) => e.ip))], ['127.0.0.1'], 'the invented addresses are not recorded');
  });

  it('a client that reaches an instance directly cannot claim to be local for /metrics', async () => {
    // The test runs on this machine, so only the proxied form can be shown end to end: nginx names the client.
    const viaNginx = await http(nginx.url, 'GET', '/metrics', { headers: { 'x-forwarded-for': '127.0.0.1' } });
    assert.equal(viaNginx.status, 404, 'nginx does not serve /metrics');
    const forwarded = await http(server.url, 'GET', '/metrics', { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(forwarded.status, 403, 'forwarded for an outsider');
    const spoofed = await http(server.url, 'GET', '/metrics', { headers: { 'x-forwarded-for': '127.0.0.1, 203.0.113.9' } });
    assert.equal(spoofed.status, 403, 'a left-most 127.0.0.1 written by the client is not believed');
    assert.equal((await http(server.url, 'GET', '/metrics')).status, 200);
  });
});
