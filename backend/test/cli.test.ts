import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../src/config/paths.js';
import { startServer } from './helpers/server.js';
import { connectPeer } from './helpers/sockets.js';

const CLI = join(ROOT, 'dist/node/backend/src/cli/cli.js');

describe('admin CLI (npm run cli -- …)', () => {
  let dir: string;
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, DATA_DIR: dir, LOG_LEVEL: 'silent' }, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const emails = () => JSON.parse(cli('users', 'list', '--json').out).map((u: any) => u.email).sort();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vicer-cli-'));
    const s = await startServer({}, dir); // migrations and the admin account
    await s.close(false);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('creates, lists, sets roles, resets passwords and deletes', async () => {
    const created = cli('users', 'create', 'ops@example.com', '--name', 'Ops');
    assert.equal(created.code, 0, created.err);
    const password = /password: (\S+)/.exec(created.out)?.[1];
    assert.ok(password);
    assert.deepEqual(emails(), ['admin@vicer.test', 'ops@example.com']);
    assert.equal(cli('users', 'set-role', 'ops@example.com', 'admin').code, 0);
    assert.equal(JSON.parse(cli('users', 'list', '--json').out).find((u: any) => u.email === 'ops@example.com').role, 'admin');
    const reset = cli('users', 'reset-password', 'ops@example.com', '--password', 'new-password-9');
    assert.equal(reset.code, 0, reset.err);
    const s = await startServer({}, dir);
    try {
      assert.equal((await s.api('POST', '/api/auth/login', { body: { email: 'ops@example.com', password } })).status, 401);
      assert.equal((await s.api('POST', '/api/auth/login', { body: { email: 'ops@example.com', password: 'new-password-9' } })).status, 200);
    } finally {
      await s.close(false);
    }
    assert.equal(cli('users', 'delete', 'ops@example.com').code, 0);
    assert.deepEqual(emails(), ['admin@vicer.test']);
  });

  it('refuses bad input with a message and changes nothing', () => {
    const before = emails();
    for (const [args, code] of [
      [['users', 'create', 'not-an-email'], 1],
      [['users', 'create', 'x@example.com', '--password', 'short'], 1],
      [['users', 'set-role', 'admin@vicer.test', 'king'], 1],
      [['users', 'delete', 'nobody@example.com'], 1],
      [['users', 'delete', 'admin@vicer.test'], 1],
      [['users', 'frobnicate'], 2],
      [['users', 'create', 'y@example.com', '--colour', 'blue'], 2],
      [['users', 'create', 'y@example.com', '--password'], 2],
      [['users', 'delete'], 2],
      [['fleet', 'list'], 2],
      [['vehicles', 'create', 'bad/name'], 1],
      [['vehicles', 'rotate', 'nothing-here'], 1],
      [[], 2],
    ] as const) {
      const r = cli(...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
      assert.ok((r.err + r.out).trim().length > 0, `a message for ${args.join(' ')}`);
      assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
    }
    assert.match(cli('users', 'frobnicate').err, /unknown command "users frobnicate"/);
    assert.match(cli('fleet').err, /unknown command "fleet"/);
    assert.deepEqual(emails(), before);
  });

  it('--help exits 0 everywhere and says what the command takes', () => {
    for (const args of [['--help'], ['-h'], ['users', '--help'], ['vehicles', '--help'], ['users', 'create', '--help'], ['vehicles', 'rotate', '-h'], ['users', 'import', 'x.json', '--help']]) {
      const r = cli(...args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.out, /Usage: npm run cli --/);
    }
    assert.match(cli('--help').out, /vehicles rotate <name\|id>/);
    assert.match(cli('users', 'create', '--help').out, /users create <email>/);
    assert.doesNotMatch(cli('users', '--help').out, /vehicles/);
  });

  it('vehicles create, list, rotate, delete; a rotated or deleted vehicle is disconnected by the running server', { timeout: 60_000 }, async () => {
    const made = cli('vehicles', 'create', 'cli-rover');
    assert.equal(made.code, 0, made.err);
    const token = /token: (\S+)/.exec(made.out)?.[1];
    assert.ok(token?.startsWith('vt_'));
    assert.deepEqual(JSON.parse(cli('vehicles', 'list', '--json').out).map((v: any) => v.name), ['cli-rover']);
    assert.equal(cli('vehicles', 'create', 'cli-rover').code, 1, 'a taken name');
    const s = await startServer({}, dir);
    try {
      const peer = await connectPeer(s.url, { vehicleToken: token });
      const closed = new Promise((r) => peer.socket.on('disconnect', r));
      const rotated = cli('vehicles', 'rotate', 'cli-rover');
      assert.equal(rotated.code, 0, rotated.err);
      const fresh = /: (vt_\S+)/.exec(rotated.out)?.[1];
      assert.ok(fresh && fresh !== token);
      await closed;
      await assert.rejects(connectPeer(s.url, { vehicleToken: token }), /unauthorized/);
      const again = await connectPeer(s.url, { vehicleToken: fresh });
      const gone = new Promise((r) => again.socket.on('disconnect', r));
      assert.equal(cli('vehicles', 'delete', 'cli-rover').code, 0);
      await gone;
    } finally {
      await s.close(false);
    }
    assert.deepEqual(JSON.parse(cli('vehicles', 'list', '--json').out), []);
  });

  it('imports the seed format: hashes passwords, reports and skips duplicates and invalid entries', async () => {
    const file = join(dir, 'users.json');
    writeFileSync(
      file,
      JSON.stringify({
        users: [
          { id: 1, email: 'kim@example.com', password: 'kim-password' },
          { id: 2, email: 'KIM@example.com', password: 'other-password' },
          { id: 3, email: 'admin@vicer.test', password: 'whatever-123' },
          { id: 4, email: 'lee', password: '1' },
          { id: 5, email: 'park@example.com', password: 'park-password', role: 1 },
        ],
      }),
    );
    const r = cli('users', 'import', file);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /imported 2 user\(s\), skipped 3/);
    assert.match(r.out, /#2 KIM@example.com: duplicate/);
    assert.match(r.out, /#3 admin@vicer.test: duplicate/);
    assert.match(r.out, /#4 lee: email/);
    const list = JSON.parse(cli('users', 'list', '--json').out);
    assert.equal(list.find((u: any) => u.email === 'park@example.com').role, 'admin');
    const s = await startServer({}, dir);
    try {
      assert.equal((await s.api('POST', '/api/auth/login', { body: { email: 'kim@example.com', password: 'kim-password' } })).status, 200);
    } finally {
      await s.close(false);
    }
  });

  it('a malformed file changes nothing', () => {
    const before = emails();
    for (const content of ['{"users": [', '{"people": []}', '{"users":[{"email":"a@example.com","password":"password-1"},{"email":7}]}']) {
      const file = join(dir, 'bad.json');
      writeFileSync(file, content);
      const r = cli('users', 'import', file);
      assert.equal(r.code, 1);
      assert.match(r.err, /nothing was imported/);
    }
    assert.equal(cli('users', 'import', join(dir, 'missing.json')).code, 1);
    assert.deepEqual(emails(), before);
  });
});
