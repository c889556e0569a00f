import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../src/config/paths.js';
import { startNginx } from './helpers/cluster.js';
import { freePort } from './helpers/databases.js';

const doc = () => readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');
const shellBlocks = (md: string) => [...md.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]);

/** The deploy recipes run as written on a fresh Debian machine: what can be checked here is checked. */
describe('deploy recipes', () => {
  it('the systemd unit passes systemd-analyze verify', { skip: existsSync('/usr/bin/systemd-analyze') ? false : 'systemd-analyze is not installed (apt-get install -y systemd)' }, () => {
    const r = spawnSync('systemd-analyze', ['verify', join(ROOT, 'docs/systemd/vicer.service')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings');
  });

  it('the shipped nginx config passes nginx -t and serves', async () => {
    const nginx = await startNginx([await freePort()]);
    await nginx.stop();
  });

  it('the one-machine recipe gives the service user a home and the tree it builds in', () => {
    const [one] = shellBlocks(doc());
    assert.match(one, /useradd --system --create-home --home-dir \/var\/lib\/vicer/);
    assert.match(one, /chown -R vicer:vicer \/opt\/vicer/);
    assert.ok(one.indexOf('npm ci') < one.indexOf('npm run build') && one.indexOf('npm run build') < one.indexOf('systemctl enable'), one);
    assert.match(readFileSync(join(ROOT, 'docs/systemd/vicer.service'), 'utf8'), /^WorkingDirectory=\/opt\/vicer$/m);
  });

  it('the several-instances recipe makes the database role, builds once before any start, and runs no demo vehicle', () => {
    const many = shellBlocks(doc()).find((b) => b.includes('INSTANCE_ID=i1'))!;
    assert.match(many, /CREATE ROLE vicer LOGIN PASSWORD/);
    assert.match(many, /CREATE DATABASE vicer OWNER vicer/);
    const build = many.indexOf('npm run build');
    assert.ok(build > 0 && build < many.indexOf('npm start'), 'built before the first start');
    assert.match(many, /VICER_DEMO=0/);
    assert.match(many, /TRUST_PROXY=1/);
  });

  it('the container build installs npm 11 (the lockfile needs its allowScripts)', () => {
    assert.match(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8'), /npm install -g npm@11/);
  });

  it('after a build, npm start starts without building again (so instances started together do not build at once)', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vicer-deploy-'));
    const port = await freePort();
    const child = spawn(process.execPath, [join(ROOT, 'backend/launch.mjs'), 'server'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dir, VICER_DEMO: '0', LOG_LEVEL: 'warn', ADMIN_PASSWORD: 'deploy-password-1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    try {
      for (let i = 0; i < 600 && !/listening on/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
      assert.match(out, /listening on/, err);
      assert.doesNotMatch(err, /building/, 'nothing was built at start');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
