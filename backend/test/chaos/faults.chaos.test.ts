import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../helpers/agent.js';
import { converges, Driver, moving, startRig, stopDelays, violations, type Rig } from '../helpers/chaos.js';
import { pgDatabase, startOwnPostgres } from '../helpers/databases.js';
import { http, stopProcess } from '../helpers/process.js';
import { connectPeer, sleep, type Peer } from '../helpers/sockets.js';
import { RELAY_LIMITS } from '../../src/protocol/index.js';

/**
 * The chaos tier: faults as operations meet them — Redis killed and restarted empty, Redis and instances frozen
 * (SIGSTOP), instances killed, PostgreSQL restarted — while a driver drives and a watcher watches. The verdict is the
 * vehicle's own log of applied commands (helpers/chaos.ts: `violations`), and the state converging afterwards within
 * the bounds docs/deploy.md gives.
 */

/** Bounds within which the state converges after a fault (docs/deploy.md, "What happens when something fails"). */
const CONVERGE_MS = 10_000;

async function health(url: string): Promise<string> {
  const res = await fetch(url + '/api/health', { signal: AbortSignal.timeout(4000) });
  return ((await res.json()) as { status: string }).status;
}

/** Both instances' /api/health say `status`. */
async function both(rig: Rig, status: string): Promise<boolean> {
  return (await health(rig.c.url('i1'))) === status && (await health(rig.c.url('i2'))) === status;
}

async function vehicleState(rig: Rig, instance: string) {
  return (await http(rig.c.url(instance), 'GET', `/api/vehicles/${rig.vehicle.id}`, { token: rig.admin })).body as { estopped: boolean; driver: unknown; viewers: number; online: boolean };
}

async function watcher(rig: Rig, instance: string): Promise<Peer> {
  const w = await connectPeer(rig.c.url(instance), { token: rig.admin }, { reconnection: true });
  assert.equal((await w.call('watch', { vehicleId: rig.vehicle.id })).ok, true);
  w.socket.on('frame', (m: { seq: number }) => w.socket.emit('frame:ack', { vehicleId: rig.vehicle.id, seq: m.seq }));
  return w;
}

/** Drives until the vehicle has applied a moving command (the path works), and returns the time. */
async function drivingNow(rig: Rig, d: Driver): Promise<number> {
  d.drive();
  const since = Date.now();
  await waitFor(() => rig.agent.lines.find((l) => moving(l) && l.at >= since), 10_000);
  return Date.now();
}

function verdict(t: { diagnostic(m: string): void }, rig: Rig, facts: Parameters<typeof violations>[1]): void {
  const lines = rig.agent.lines;
  for (const s of stopDelays(lines)) t.diagnostic(`stopped ${s.ms} ms after the last moving command (${s.reason})`);
  assert.deepEqual(violations(lines, facts), [], 'the vehicle log keeps every invariant');
}

/**
 * The end of every scenario: the driver takes the seat again and drives (the path works after the fault), then leaves;
 * the vehicle's whole log must keep every invariant.
 */
async function drivesAgainThenStops(t: { diagnostic(m: string): void }, rig: Rig, d: Driver, others: Peer[] = [], facts: Parameters<typeof violations>[1] = {}): Promise<void> {
  await d.acquireUntilGranted();
  await drivingNow(rig, d);
  d.close();
  others.forEach((p) => p.close());
  await sleep(RELAY_LIMITS.agentDeadManMs * 2);
  verdict(t, rig, { ...facts, ends: d.revoked.map((r) => r.at) });
}

describe('chaos: safety through faults of Redis, instances and PostgreSQL (2 instances, the Node agent on 1, a driver on 2)', () => {
  it('an e-stop survives Redis killed and restarted empty, a restarted agent and a restarted driver instance; only a clear ends it', { timeout: 180_000 }, async (t) => {
    const rig = await startRig();
    try {
      const d = await Driver.connect(rig.c.url('i2'), rig.driverToken, rig.vehicle.id);
      const w = await watcher(rig, 'i2');
      assert.equal((await d.acquire()).ok, true);
      await drivingNow(rig, d);
      d.halt();
      await waitFor(() => d.revoked.find((r) => r.reason === 'lease-expired'), 5000);
      const latchedAt = Date.now();
      assert.equal((await w.call('estop', { vehicleId: rig.vehicle.id })).state.estopped, true);
      await waitFor(() => rig.agent.lines.find((l) => l.reason === 'estop'), 5000);

      await rig.redis.stop();
      await rig.redis.start();
      t.diagnostic(`Redis restarted empty; instances healthy again after ${await converges(() => both(rig, 'ok'), CONVERGE_MS)} ms`);
      for (const i of ['i1', 'i2']) assert.equal((await vehicleState(rig, i)).estopped, true, `instance ${i} still says latched`);

      const agent = await rig.restartAgent();
      await waitFor(() => agent.lines.find((l) => l.reason === 'estop'), 10_000);
      await stopProcess(rig.c.instances[1], 'SIGKILL');
      await rig.c.restart('i2');
      await converges(async () => d.peer.socket.connected, CONVERGE_MS).catch((err) => {
        throw new Error(`${err.message}: ${d.peer.log.map((e) => e.event).join(',')}; i2: ${rig.c.instances[1].stdout().slice(-1500)} ${rig.c.instances[1].stderr().slice(-1500)}`);
      });
      await d.acquireUntilGranted();
      d.drive();
      await sleep(3000);
      d.halt();
      const before = agent.lines.filter(moving).length;
      verdict(t, rig, { latched: [{ from: latchedAt, to: Infinity }], ends: d.revoked.map((r) => r.at) });
      assert.equal(before, 0, 'nothing moved while latched');

      // Only an explicit clear ends it; then the driver drives again.
      const w2 = await connectPeer(rig.c.url('i1'), { token: rig.admin });
      assert.equal((await w2.call('estop:clear', { vehicleId: rig.vehicle.id })).state.estopped, false);
      await waitFor(() => agent.lines.find((l) => l.reason === 'estop-clear'), 5000);
      await drivesAgainThenStops(t, rig, d, [w, w2]);
    } finally {
      await rig.stop();
    }
  });

  it('the seat follows the vehicle: its instance killed → the driver is told vehicle-lost and the lock frees; back online it moves only after a new acquire', { timeout: 180_000 }, async (t) => {
    const rig = await startRig();
    try {
      const d = await Driver.connect(rig.c.url('i2'), rig.driverToken, rig.vehicle.id);
      assert.equal((await d.acquire()).ok, true);
      await drivingNow(rig, d);
      const killedAt = Date.now();
      await stopProcess(rig.c.instances[0], 'SIGKILL');
      const lost = await waitFor(() => d.revoked.find((r) => r.reason === 'vehicle-lost'), 15_000);
      t.diagnostic(`driver told vehicle-lost ${lost.at - killedAt} ms after the kill`);
      await converges(async () => (await vehicleState(rig, 'i2')).driver === null, CONVERGE_MS);
      // The driver keeps sending as if nothing happened; the vehicle comes back on its restarted instance.
      const reconnects = (rig.agent.stderr().match(/connected to/g) ?? []).length;
      await rig.c.restart('i1');
      await waitFor(() => ((rig.agent.stderr().match(/connected to/g) ?? []).length > reconnects ? true : undefined), 30_000);
      await converges(async () => (await vehicleState(rig, 'i2')).online, CONVERGE_MS);
      await sleep(2000);
      assert.deepEqual(
        rig.agent.lines.filter((l) => moving(l) && l.at > killedAt),
        [],
        'no command moved the vehicle after it came back without a new acquire',
      );
      await drivesAgainThenStops(t, rig, d);
    } finally {
      await rig.stop();
    }
  });

  it('Redis frozen 5 s while driving: the driver is revoked, the API and health answer (degraded), nothing from the dead lease moves the vehicle after the thaw', { timeout: 180_000 }, async (t) => {
    const rig = await startRig();
    try {
      const d = await Driver.connect(rig.c.url('i2'), rig.driverToken, rig.vehicle.id);
      assert.equal((await d.acquire()).ok, true);
      await drivingNow(rig, d);
      const frozenAt = Date.now();
      rig.redis.pause();
      const revoked = await waitFor(() => d.revoked.find((r) => r.at > frozenAt), 5000);
      t.diagnostic(`frozen Redis → driver revoked (${revoked.reason}) after ${revoked.at - frozenAt} ms`);
      assert.equal(revoked.reason, 'unavailable');
      // Each instance finds out by itself, within its probe's deadline.
      await converges(() => both(rig, 'degraded'), CONVERGE_MS);
      const login = await fetch(rig.c.url('i1') + '/api/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@example.com', password: 'x' }),
        signal: AbortSignal.timeout(4000),
      });
      assert.equal(login.status, 401, 'login answers');
      assert.equal((await vehicleState(rig, 'i2')).estopped, false, 'GET /api/vehicles/:id answers');
      const refused = await d.acquire();
      assert.deepEqual([refused.ok, refused.error?.code], [false, 'unavailable'], 'drive:acquire answers');
      await sleep(Math.max(0, frozenAt + 5000 - Date.now()));
      rig.redis.resume();
      t.diagnostic(`thawed; healthy again after ${await converges(() => both(rig, 'ok'), CONVERGE_MS)} ms`);
      await sleep(1500);
      const late = rig.agent.lines.filter((l) => moving(l) && l.at > frozenAt + RELAY_LIMITS.leaseMs);
      assert.deepEqual(late, [], 'no moving command past the last lease the store confirmed');
      await drivesAgainThenStops(t, rig, d);
    } finally {
      await rig.stop();
    }
  });

  it('a drive:acquire and a watch that hung on a frozen Redis after their socket closed undo themselves: no ghost lock, no phantom viewer', { timeout: 180_000 }, async (t) => {
    const rig = await startRig();
    try {
      const w = await watcher(rig, 'i1');
      const d = await Driver.connect(rig.c.url('i2'), rig.driverToken, rig.vehicle.id);
      const ghost = await connectPeer(rig.c.url('i2'), { token: rig.admin });
      await converges(async () => (await vehicleState(rig, 'i2')).viewers === 1, CONVERGE_MS);
      rig.redis.pause();
      ghost.socket.emit('watch', { vehicleId: rig.vehicle.id });
      ghost.socket.emit('drive:acquire', { vehicleId: rig.vehicle.id });
      await sleep(200);
      ghost.close();
      await sleep(2500);
      rig.redis.resume();
      await converges(() => both(rig, 'ok'), CONVERGE_MS);
      const first = await d.acquire();
      assert.equal(first.ok, true, `the real driver gets the seat at its first try (${first.error?.code ?? ''})`);
      const ms = await converges(async () => {
        const s = await vehicleState(rig, 'i1');
        return s.viewers === 1 && (s.driver as { name?: string } | null)?.name === 'Dana';
      }, CONVERGE_MS);
      t.diagnostic(`viewer count back to the one real watcher ${ms} ms after Redis answered`);
      await drivesAgainThenStops(t, rig, d, [w]);
    } finally {
      await rig.stop();
    }
  });

  it('SIGTERM with Redis gone: every instance shuts down cleanly (exit 0, no unhandled rejection)', { timeout: 120_000 }, async () => {
    const rig = await startRig();
    try {
      const d = await Driver.connect(rig.c.url('i2'), rig.driverToken, rig.vehicle.id);
      const w = await watcher(rig, 'i1');
      assert.equal((await d.acquire()).ok, true);
      await drivingNow(rig, d);
      await rig.redis.stop();
      await converges(() => both(rig, 'degraded'), CONVERGE_MS);
      await sleep(1000);
      const exits = await Promise.all(rig.c.instances.map((p) => stopProcess(p, 'SIGTERM')));
      for (const [i, e] of exits.entries()) {
        const out = rig.c.instances[i].stdout() + rig.c.instances[i].stderr();
        // Nest closes the app and then raises the signal again: a clean stop ends by SIGTERM (or 0), a crash with 70.
        assert.ok(e.code === 0 || (e.code === null && e.signal === 'SIGTERM'), `instance i${i + 1} exited cleanly (${JSON.stringify(e)}):\n${out.slice(-2000)}`);
        assert.doesNotMatch(out, /unhandled rejection|uncaught exception/);
      }
      d.close();
      w.close();
    } finally {
      await rig.stop();
    }
  });

  it('an instance frozen past its heartbeat: the vehicle stops, the others close its rows; when it resumes its sessions start over and the log is true again', { timeout: 180_000 }, async (t) => {
    const rig = await startRig();
    try {
      const d = await Driver.connect(rig.c.url('i2'), rig.driverToken, rig.vehicle.id);
      const driverId = (await http(rig.c.url('i2'), 'GET', '/api/users/me', { token: rig.driverToken })).body.id as string;
      assert.equal((await d.acquire()).ok, true);
      await drivingNow(rig, d);
      const frozenAt = Date.now();
      rig.c.instances[1].child.kill('SIGSTOP');
      const activeRows = async () =>
        (await http(rig.c.url('i1'), 'GET', `/api/connections?state=active&userId=${driverId}`, { token: rig.admin })).body.items as { id: string; connectedAt: string; instanceId: string }[];
      await converges(async () => (await activeRows()).length === 0, CONVERGE_MS);
      t.diagnostic(`the frozen instance's rows closed by the survivor after ${Date.now() - frozenAt} ms`);
      const resumedAt = Date.now();
      rig.c.instances[1].child.kill('SIGCONT');
      // Its sessions end for real and start over: the driver's socket reconnects and has an open row again.
      const ms = await converges(async () => {
        const rows = await activeRows();
        return d.peer.socket.connected && rows.length === 1 && Date.parse(rows[0].connectedAt) >= resumedAt - 1000;
      }, CONVERGE_MS);
      t.diagnostic(`after the resume the driver's session has a true row again within ${ms} ms`);
      const late = rig.agent.lines.filter((l) => moving(l) && l.at > frozenAt + RELAY_LIMITS.leaseMs);
      assert.deepEqual(late, [], 'the frozen driver moved nothing after its lease');
      await drivesAgainThenStops(t, rig, d);
    } finally {
      await rig.stop();
    }
  });

  it('PostgreSQL restarted while driving: an e-stop pressed meanwhile stops the vehicle, is stored once the database is back, and holds until cleared', { timeout: 180_000 }, async (t) => {
    const pgServer = await startOwnPostgres();
    const rig = await startRig({ db: await pgDatabase(pgServer.url) });
    try {
      const d = await Driver.connect(rig.c.url('i2'), rig.driverToken, rig.vehicle.id);
      const w = await watcher(rig, 'i1');
      assert.equal((await d.acquire()).ok, true);
      await drivingNow(rig, d);
      pgServer.stop('fast');
      const latchedAt = Date.now();
      w.socket.emit('estop', { vehicleId: rig.vehicle.id });
      const latched = await waitFor(() => rig.agent.lines.find((l) => l.reason === 'estop' && l.at >= latchedAt), 5000);
      const cleared = await w.call('estop:clear', { vehicleId: rig.vehicle.id });
      assert.deepEqual([cleared.ok, cleared.error?.code], [false, 'unavailable'], 'no clear without the database');
      pgServer.start();
      const ms = await converges(async () => {
        const rows = await rig.c.db.query('SELECT latched FROM estop_latches WHERE "vehicleId" = $1', [rig.vehicle.id]);
        return rows[0]?.latched === true;
      }, CONVERGE_MS);
      t.diagnostic(`the latch pressed while PostgreSQL was down reached it ${ms} ms after it came back`);
      for (const i of ['i1', 'i2']) assert.equal((await vehicleState(rig, i)).estopped, true);
      await sleep(1000);
      d.halt();
      verdict(t, rig, { latched: [{ from: latched.at, to: Infinity }], ends: d.revoked.map((r) => r.at) });
      assert.equal((await w.call('estop:clear', { vehicleId: rig.vehicle.id })).ok, true);
      const clearedAt = Date.now();
      await drivesAgainThenStops(t, rig, d, [w], { latched: [{ from: latched.at, to: clearedAt }] });
    } finally {
      await rig.stop();
      pgServer.stop();
    }
  });
});
