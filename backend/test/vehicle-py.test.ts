import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT } from '../src/config/paths.js';
import { renameTable, sqliteDatabase, type TestDatabase } from './helpers/databases.js';
import { http, startServerProcess, stopProcess, type ServerProcess } from './helpers/process.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD } from './helpers/server.js';
import { connectPeer, type Peer } from './helpers/sockets.js';
import { waitFor } from './helpers/agent.js';

const VEHICLE_PY = join(ROOT, 'apps/vehicle-py/vehicle.py');
/** Debian's interpreter, where python3-socketio is installed. */
const PYTHON = '/usr/bin/python3';

interface PyVehicle {
  child: ChildProcess;
  applied: { seq: number | null; throttle: number; steer: number; reason: string }[];
  log: () => string;
  exited: Promise<number | null>;
}

function runPy(args: string[]): PyVehicle {
  const child = spawn(PYTHON, [VEHICLE_PY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const applied: PyVehicle['applied'] = [];
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let i;
    while ((i = out.indexOf('\n')) >= 0) {
      applied.push(JSON.parse(out.slice(0, i)));
      out = out.slice(i + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, applied, log: () => err, exited: new Promise((r) => child.on('exit', (code) => r(code))) };
}

/**
 * The Python vehicle of apps/vehicle-py (python-socketio, a client in another language) against the real server
 * process: video, telemetry, controls and the dead-man, surviving disconnects, refused tokens, and a server
 * shutdown that does not wait for it.
 */
describe('Python vehicle (apps/vehicle-py, python-socketio)', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let admin: string;
  const running: PyVehicle[] = [];
  const peers: Peer[] = [];

  before(async () => {
    db = await sqliteDatabase();
    server = await startServerProcess(db.env);
    admin = (await http(server.url, 'POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } })).body.accessToken;
  });
  after(async () => {
    for (const p of running) p.child.kill('SIGKILL');
    for (const p of peers) p.close();
    await stopProcess(server, 'SIGKILL');
    await db.cleanup();
  });

  const register = async (name: string) => (await http(server.url, 'POST', '/api/vehicles', { token: admin, body: { name } })).body as { id: string; token: string };

  it('streams JPEG frames and telemetry, applies controls with acks, stops itself on the dead-man, and comes back after being kicked', { timeout: 90_000 }, async () => {
    const v = await register('py-rover');
    const py = runPy(['--server', server.url, '--token', v.token, '--source', 'test', '--fps', '10', '--controls-out', '-']);
    running.push(py);
    const w = await connectPeer(server.url, { token: admin });
    peers.push(w);
    w.socket.on('frame', (m: { vehicleId: string; seq: number }) => w.socket.emit('frame:ack', { vehicleId: m.vehicleId, seq: m.seq }));
    await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.online, 30_000);
    assert.equal((await w.call('watch', { vehicleId: v.id })).ok, true);
    const [meta, jpeg] = await w.next('frame', (m) => m.vehicleId === v.id, 15_000);
    assert.equal(meta.codec, 'jpeg');
    assert.deepEqual([jpeg[0], jpeg[1], jpeg[jpeg.length - 2], jpeg[jpeg.length - 1]], [0xff, 0xd8, 0xff, 0xd9]);
    const [tel] = await w.next('telemetry', (t) => t.vehicleId === v.id && t.agent === 'vehicle-py', 10_000);
    assert.equal(typeof tel.speed, 'number');

    assert.equal((await w.call('drive:acquire', { vehicleId: v.id })).ok, true);
    for (let seq = 1; seq <= 5; seq++) w.socket.emit('control', { vehicleId: v.id, seq, throttle: 0.5, steer: -0.25, sentAt: Date.now() });
    const [ack] = await w.next('control:ack', (a) => a.seq === 5, 10_000);
    assert.equal(typeof ack.rttMs, 'number');
    await waitFor(() => py.applied.find((a) => a.reason === 'deadman'), 10_000);
    assert.deepEqual(
      py.applied.filter((a) => a.reason === 'control').map((a) => [a.seq, a.throttle, a.steer]),
      [1, 2, 3, 4, 5].map((seq) => [seq, 0.5, -0.25]),
    );
    await w.call('drive:release', { vehicleId: v.id });

    // Kicked by an admin: the server ends the session; the vehicle connects again by itself.
    const conns = await http(server.url, 'GET', `/api/connections?state=active&vehicleId=${v.id}`, { token: admin });
    const offline = w.nextNew('vehicle:state', (st) => st.vehicleId === v.id && !st.online, 10_000);
    assert.equal((await http(server.url, 'DELETE', `/api/connections/${conns.body.items[0].id}`, { token: admin })).status, 204);
    await offline;
    await w.nextNew('frame', (m) => m.vehicleId === v.id, 30_000);
    const back = (await http(server.url, 'GET', `/api/vehicles/${v.id}`, { token: admin })).body;
    assert.equal(back.online, true);
    assert.match(py.log(), /disconnected; reconnecting[\s\S]*connected to/);
    assert.doesNotMatch(py.log(), /Traceback|BadNamespaceError/);
  });

  it('shows the reason of a refused connection, and exits 1 for a refused token', { timeout: 30_000 }, async () => {
    const py = runPy(['--server', server.url, '--token', 'vt_not-a-real-token', '--source', 'test']);
    running.push(py);
    assert.equal(await py.exited, 1);
    assert.match(py.log(), /connect_error: unauthorized/);
    assert.match(py.log(), /refused the vehicle token/);
    const bad = runPy(['--server', 'ftp://x', '--token', 't']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.log(), /--server must be an http\(s\) URL/);
  });

  it('a database failure during its handshake is passing: it keeps trying and comes online once the database answers', { timeout: 60_000 }, async () => {
    const v = await register('py-db-away');
    const w = await connectPeer(server.url, { token: admin });
    peers.push(w);
    // The server cannot check vehicle tokens while its vehicles table is away (a real failure of its database).
    await renameTable(db, 'vehicles', 'vehicles_away');
    let py: PyVehicle;
    try {
      py = runPy(['--server', server.url, '--token', v.token, '--source', 'test', '--fps', '5']);
      running.push(py);
      await waitFor(() => (/cannot connect: .*retrying/.test(py.log()) ? true : undefined), 20_000);
    } finally {
      await renameTable(db, 'vehicles_away', 'vehicles');
    }
    await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.online, 30_000);
    assert.equal(py.child.exitCode, null, 'it is still running');
    assert.doesNotMatch(py.log(), /refused the vehicle token|Traceback/);
    py.child.kill('SIGTERM');
  });

  it('SIGTERM closes every socket at once: the server exits without waiting for the Python client', { timeout: 60_000 }, async (t) => {
    const v = await register('py-shutdown');
    const py = runPy(['--server', server.url, '--token', v.token, '--source', 'test', '--fps', '5']);
    running.push(py);
    await waitFor(() => (/connected to/.test(py.log()) ? true : undefined), 20_000);
    const started = performance.now();
    const exit = await stopProcess(server, 'SIGTERM');
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`shutdown with a python-socketio client connected: ${seconds.toFixed(2)} s`);
    assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', JSON.stringify(exit));
    // The defect: the process waited for the client's WebSocket close timeout (30 s). A hang detector, not a benchmark.
    assert.ok(seconds < 20, `shutdown took ${seconds} s`);
    await waitFor(() => (/disconnected; reconnecting/.test(py.log()) ? true : undefined), 10_000);
    server = await startServerProcess(db.env);
  });
});
