import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isDatabaseUnavailable } from '../src/database/database.service.js';
import { RELAY_LIMITS } from '../src/protocol/index.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from './helpers/server.js';
import { connectPeer, sleep, type Peer } from './helpers/sockets.js';

/** What a hostile probe with one ordinary account found, each with the request that showed it. */
describe('hardening', () => {
  let s: TestServer;
  let admin: string;
  let user: { accessToken: string; user: { id: string } };
  const peers: Peer[] = [];

  before(async () => {
    s = await startServer({ MAX_SOCKETS_PER_USER: '5', MAX_SOCKETS_PER_ADDRESS: '8' });
    admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
    assert.equal((await s.api('POST', '/api/users', { token: admin, body: { email: 'probe@example.com', password: 'password-123', name: 'Probe', role: 'user' } })).status, 201);
    user = await s.login('probe@example.com', 'password-123');
  });
  after(async () => {
    peers.forEach((p) => p.close());
    await s.close();
  });

  it('the cross-site check reads the routed path: percent-encoded forms of /api are refused too, and change nothing', async () => {
    const id = user.user.id;
    const crossSite = { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' };
    for (const path of [`/%61pi/users/${id}`, `/ap%69/users/${id}`, `/api/%75sers/${id}`, `/%61%70%69/users/${id}`, `/api/users/%${id.charCodeAt(0).toString(16)}${id.slice(1)}`]) {
      const res = await s.api('PUT', path, { body: { name: 'Pwned' }, headers: { ...crossSite, authorization: `Bearer ${user.accessToken}` } });
      assert.equal(res.status, 403, `${path}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'cross-site', path);
    }
    assert.equal((await s.api('GET', '/api/users/me', { token: user.accessToken })).body.name, 'Probe');
    const sameSite = await s.api('PUT', `/%61pi/users/${id}`, { token: user.accessToken, body: { name: 'Renamed' }, headers: { 'sec-fetch-site': 'same-origin' } });
    assert.equal(sameSite.status, 200, 'the same request from the site itself works');
  });

  it('relay sockets are capped per account and per address (per instance); the refusal says why, and a closed socket frees its place', async () => {
    const mine: Peer[] = [];
    for (let i = 0; i < 5; i++) mine.push(await connectPeer(s.url, { token: user.accessToken }));
    peers.push(...mine);
    await assert.rejects(connectPeer(s.url, { token: user.accessToken }), (err: Error & { data?: { code?: string } }) => {
      assert.equal(err.data?.code, 'too-many-connections');
      assert.match(err.message, /this account has 5 live connections/);
      return true;
    });
    mine[0].close();
    await sleep(100);
    peers.push(await connectPeer(s.url, { token: user.accessToken }));
    // The address cap counts every account (and vehicles): 5 of the probe's, then the admin's up to 8.
    for (let i = 0; i < 3; i++) peers.push(await connectPeer(s.url, { token: admin }));
    await assert.rejects(connectPeer(s.url, { token: admin }), (err: Error & { data?: { code?: string } }) => err.data?.code === 'too-many-connections' && /your address has 8/.test(err.message));
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    assert.match(metrics, /vicer_sockets_refused_total\{[^}]*limit="user"[^}]*\} 1/);
    assert.match(metrics, /vicer_sockets_refused_total\{[^}]*limit="address"[^}]*\} 1/);
    for (const p of peers.splice(0)) p.close();
    await sleep(100);
  });

  it(`telemetry is rate-limited like controls: a burst of 10 000 relays at most the burst, counted and reported once`, async () => {
    const v = await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'telemetry-flood' } });
    const vehicle = await connectPeer(s.url, { vehicleToken: v.body.token });
    const watcher = await connectPeer(s.url, { token: admin });
    peers.push(vehicle, watcher);
    assert.equal((await watcher.call('watch', { vehicleId: v.body.id })).ok, true);
    for (let i = 0; i < 10_000; i++) vehicle.socket.emit('telemetry', { speed: i });
    await vehicle.next('error', (e) => e.code === 'rate-limited' && e.event === 'telemetry', 10_000);
    await sleep(1500);
    const relayed = watcher.count('telemetry');
    assert.ok(relayed >= RELAY_LIMITS.telemetryBurst && relayed < 200, `${relayed} of 10 000 relayed`);
    assert.equal(vehicle.count('error', (e) => e.code === 'rate-limited'), 1, 'told once per flood');
    const stats = (await s.api('GET', `/api/vehicles/${v.body.id}/stats`, { token: admin })).body;
    assert.equal(stats.telemetryIn, 10_000);
    assert.equal(stats.telemetryDropped, 10_000 - relayed);
    vehicle.close();
    watcher.close();
  });

  it('the error contract: long ids, bad percent-encoding, huge headers, upper-case ids, control characters — one error shape', async () => {
    const long = await s.api('GET', `/api/users/${'a'.repeat(150)}`, { token: admin });
    assert.equal(long.status, 400);
    assert.deepEqual(long.body.details.map((d: { field: string }) => d.field), ['id']);
    const bad = await s.api('GET', '/api/users/%E0%A4%A', { token: admin });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 'bad-url');
    const upper = await s.api('GET', `/api/users/${user.user.id.toUpperCase()}`, { token: admin });
    assert.equal(upper.status, 200, 'an id in upper case names the same record');
    assert.equal(upper.body.id, user.user.id);
    for (const name of ['nul\u0000name', 'lone \ud800 surrogate', 'bell\u0007']) {
      const res = await s.api('PUT', `/api/users/${user.user.id}`, { token: admin, body: { name } });
      assert.equal(res.status, 400, JSON.stringify(name));
      assert.equal(res.body.details[0].field, 'name');
    }
    assert.equal((await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'nul\u0000rover' } })).status, 400);
    // Headers past Node's limit are refused before any route: still the one shape, with a code.
    const { status, body } = await rawRequest(s.url, `GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.equal(status, 431);
    assert.deepEqual(Object.keys(JSON.parse(body)).sort(), ['code', 'error', 'message', 'statusCode']);
    assert.equal(JSON.parse(body).code, 'headers-too-large');
  });

  it('the OpenAPI document lists 413 for every operation with a body, and the unreachable database beside the busy one', async () => {
    const doc = (await s.api('GET', '/api/docs-json')).body;
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [verb, op] of Object.entries<any>(item)) {
        if (op.requestBody) assert.ok(op.responses['413'], `${verb} ${path}`);
        if (/database-busy/.test(op.responses['503']?.description ?? '')) assert.match(op.responses['503'].description, /database-unavailable/, `${verb} ${path}`);
      }
    }
  });

  it('an unreachable database is told apart from a bad query (503 database-unavailable, not a logged 500)', () => {
    assert.equal(isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })), true);
    assert.equal(isDatabaseUnavailable({ message: 'x', driverError: { code: '57P01' } }), true, 'admin shutdown');
    assert.equal(isDatabaseUnavailable({ message: 'x', driverError: { code: '08006' } }), true, 'connection failure');
    assert.equal(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isDatabaseUnavailable({ message: 'SQLITE_CANTOPEN: unable to open database file', code: 'SQLITE_CANTOPEN' }), true);
    assert.equal(isDatabaseUnavailable({ message: 'x', driverError: { code: '23505' } }), false, 'a unique violation is a bad write');
    assert.equal(isDatabaseUnavailable(new Error('no such table: users')), false);
  });
});

/** One raw HTTP request; the status and body of its answer. */
function rawRequest(url: string, text: string): Promise<{ status: number; body: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), '127.0.0.1', () => sock.write(text));
    let data = '';
    sock.on('data', (d) => (data += d.toString()));
    sock.on('error', reject);
    sock.on('close', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body: rest.join('\r\n\r\n') });
    });
  });
}
