import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, configWarnings, loadConfig } from '../src/config/config.js';
import { isLocalScrape } from '../src/metrics/metrics.controller.js';
import { ROOT } from '../src/config/paths.js';
import { startServer } from './helpers/server.js';

const MAIN = join(ROOT, 'dist/node/backend/src/main.js');

describe('first start and restarts', () => {
  it('prints a generated admin password once, and it signs in', async () => {
    const s = await startServer({ ADMIN_PASSWORD: '', ADMIN_EMAIL: 'root@vicer.test' });
    try {
      assert.equal(s.announced.length, 1);
      const password = /password: (\S+)/.exec(s.announced[0])?.[1];
      assert.ok(password && password.length >= 12, s.announced[0]);
      const login = await s.api('POST', '/api/auth/login', { body: { email: 'root@vicer.test', password } });
      assert.equal(login.status, 200);
      assert.equal(login.body.user.role, 'admin');
      assert.equal(statSync(join(s.dataDir, 'jwt-secret')).mode & 0o777, 0o600);
    } finally {
      await s.close(false);
    }
    const again = await startServer({ ADMIN_PASSWORD: '', ADMIN_EMAIL: 'root@vicer.test' }, s.dataDir);
    try {
      assert.equal(again.announced.length, 0, 'never printed twice');
    } finally {
      await again.close();
      rmSync(s.dataDir, { recursive: true, force: true });
    }
  });

  it('keeps users and sessions across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vicer-restart-'));
    const first = await startServer({}, dir);
    await first.api('POST', '/api/auth/signup', { body: { email: 'keep@example.com', password: 'password-123' } });
    const session = await first.login('keep@example.com', 'password-123');
    await first.close(false);
    const second = await startServer({}, dir);
    try {
      assert.equal((await second.api('GET', '/api/users/me', { token: session.accessToken })).status, 200, 'access token still valid (same secret)');
      assert.equal((await second.api('POST', '/api/auth/refresh', { body: { refreshToken: session.refreshToken } })).status, 200, 'session survived');
      assert.equal((await second.api('POST', '/api/auth/login', { body: { email: 'keep@example.com', password: 'password-123' } })).status, 200);
    } finally {
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('configuration', () => {
  for (const [name, value] of [
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['LOG_LEVEL', 'chatty'],
    ['JWT_SECRET', 'too-short'],
    ['ADMIN_EMAIL', 'nobody'],
    ['DATABASE_URL', 'mysql://x'],
    ['TRUST_PROXY', 'yes'],
    ['TRUST_PROXY', '10.0.0.0/99'],
    ['TRUST_PROXY', '1000'],
    ['CORS_ORIGINS', 'example.com'],
    ['CONNECTION_RETENTION_DAYS', '0'],
  ] as const) {
    it(`rejects ${name}=${value} naming the variable`, () => {
      assert.throws(() => loadConfig({ DATA_DIR: tmpdir(), [name]: value }), (err: unknown) => err instanceof ConfigError && err.message.includes(name));
    });
  }
  it('TRUST_PROXY: a number is a hop count, true must be spelled out (and is warned about), a list names proxies', () => {
    const at = (v: string) => loadConfig({ DATA_DIR: tmpdir(), TRUST_PROXY: v });
    assert.equal(at('1').trustProxy, 1, 'one proxy, not every hop');
    assert.equal(at('2').trustProxy, 2);
    assert.equal(at('0').trustProxy, false);
    assert.equal(at('false').trustProxy, false);
    assert.deepEqual(at('127.0.0.1, 10.0.0.0/8').trustProxy, ['127.0.0.1', '10.0.0.0/8']);
    assert.equal(at('true').trustProxy, true);
    assert.match(configWarnings(at('true')).join('\n'), /TRUST_PROXY=true believes every X-Forwarded-For/);
    assert.deepEqual(configWarnings(at('1')), []);
  });
  it('metrics without a token: the connection itself must be local, whatever a header says', () => {
    assert.equal(isLocalScrape('127.0.0.1', '127.0.0.1'), true);
    assert.equal(isLocalScrape('::ffff:127.0.0.1', '::1'), true);
    assert.equal(isLocalScrape('203.0.113.9', '127.0.0.1'), false, 'X-Forwarded-For: 127.0.0.1 from outside');
    assert.equal(isLocalScrape('127.0.0.1', '203.0.113.9'), false, 'a local proxy forwarding an outsider');
    assert.equal(isLocalScrape(undefined, '127.0.0.1'), false);
  });
  it('applies the documented defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vicer-cfg-'));
    const c = loadConfig({ DATA_DIR: dir });
    assert.equal(c.port, 3000);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.adminEmail, 'admin@vicer.local');
    assert.deepEqual(c.database, { type: 'sqlite', path: join(dir, 'vicer.sqlite') });
    assert.deepEqual(c.corsOrigins, []);
    assert.equal(c.trustProxy, false);
    assert.equal(c.jwtSecret, readFileSync(join(dir, 'jwt-secret'), 'utf8').trim());
    assert.equal(loadConfig({ DATA_DIR: dir }).jwtSecret, c.jwtSecret, 'generated once, then kept');
    rmSync(dir, { recursive: true, force: true });
  });
  it('stops the server with exit code ≠ 0 and a message naming the variable', () => {
    const r = spawnSync(process.execPath, [MAIN], { env: { ...process.env, PORT: 'abc', DATA_DIR: tmpdir() }, encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /PORT: must be a port number/);
  });
});
