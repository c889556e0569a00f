import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DashboardSample, DashboardWatchAck } from '../../src/protocol/index.js';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { connectPeer, fakeJpeg, sleep, type Peer } from '../helpers/sockets.js';

/** The admin dashboard's feed through a real server and socket.io peers, on SQLite and (pg tier) PostgreSQL. */
export function dashboardSuite(database: DatabaseFactory) {
  describe('dashboard: the live feed over the relay socket', () => {
    let s: TestServer;
    let db: TestDatabase;
    const peers: Peer[] = [];
    before(async () => {
      db = await database();
      s = await startServer(db.env);
    });
    after(async () => {
      peers.forEach((p) => p.close());
      await s.close();
      await db.cleanup();
    });

    it('gives an admin the last minutes and the hourly counts, then a sample every 2 s that moves with a drive', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: `wrong-${i}` } })).status, 401);
      const admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      const v = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'dash-rover' } })).body;
      const board = await connectPeer(s.url, { token: admin });
      peers.push(board);
      // The board's session row is written as its socket connects, not before the client hears it is connected.
      while (!(await s.api('GET', '/api/connections?state=active', { token: admin })).body.items.length) await sleep(20);
      const ack = (await board.call('dashboard:watch', {})) as DashboardWatchAck;
      assert.equal(ack.ok, true);
      assert.equal(ack.hourly.hours.length, 24);
      assert.equal(ack.hourly.hours[23], Math.floor(Date.now() / 3_600_000) * 3_600_000, 'the last bucket is this hour');
      assert.equal(ack.hourly.failedLogins[23], 3);
      assert.ok(ack.hourly.sessions[23] >= 1, 'the board’s own session is in the connection log');
      assert.equal(ack.hourly.failedLogins.slice(0, 23).reduce((a, b) => a + b, 0), 0);
      assert.ok(Array.isArray(ack.samples));

      const vehicle = await connectPeer(s.url, { vehicleToken: v.token });
      const driver = await connectPeer(s.url, { token: admin });
      peers.push(vehicle, driver);
      vehicle.socket.on('control', (c: { seq: number }) => vehicle.socket.emit('control:ack', { seq: c.seq }));
      driver.socket.on('frame', (meta: { seq: number }) => driver.socket.emit('frame:ack', { vehicleId: v.id, seq: meta.seq }));
      assert.equal((await driver.call('watch', { vehicleId: v.id })).ok, true);
      assert.equal((await driver.call('drive:acquire', { vehicleId: v.id })).ok, true);
      // Frames and controls for a few seconds, until a sample shows all of it.
      let seq = 0;
      let running = true;
      const traffic = (async () => {
        const jpeg = fakeJpeg(1, 3000);
        while (running) {
          seq++;
          vehicle.socket.emit('frame', { seq, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' }, jpeg);
          driver.socket.emit('control', { vehicleId: v.id, seq, throttle: 0.1, steer: 0, sentAt: Date.now() });
          await sleep(50);
        }
      })();
      let seen: DashboardSample | undefined;
      try {
        const [sample] = await board.nextNew(
          'dashboard:sample',
          (x: DashboardSample) => x.vehiclesOnline === 1 && x.drivers === 1 && x.viewers === 1 && x.framesPerSec > 0 && x.controlsPerSec > 0 && x.rttP50Ms !== null,
          15_000,
        );
        seen = sample;
      } finally {
        running = false;
        await traffic;
      }
      assert.equal(seen!.instances, 1);
      assert.ok(seen!.rttP99Ms! >= seen!.rttP50Ms!);
      // Release and leave: the counts fall back.
      driver.close();
      vehicle.close();
      await board.nextNew('dashboard:sample', (x: DashboardSample) => x.vehiclesOnline === 0 && x.drivers === 0 && x.viewers === 0 && x.rttP50Ms === null, 15_000);
      // The history a late watcher gets holds what happened.
      const later = await connectPeer(s.url, { token: admin });
      peers.push(later);
      const history = ((await later.call('dashboard:watch', {})) as DashboardWatchAck).samples;
      assert.ok(history.some((x) => x.framesPerSec > 0 && x.drivers === 1), 'the drive is in the history');
      assert.ok(history.every((x, i) => i === 0 || x.at > history[i - 1].at), 'oldest first');
    });

    it('refuses a user who is not an admin with an error event, and a bad payload', async () => {
      const email = `dash-${Date.now()}@example.com`;
      assert.equal((await s.api('POST', '/api/auth/signup', { body: { email, password: 'password-123' } })).status, 201);
      const user = await connectPeer(s.url, { token: (await s.login(email, 'password-123')).accessToken });
      peers.push(user);
      const ack = await user.call('dashboard:watch', {});
      assert.equal(ack.ok, false);
      assert.equal(ack.error.code, 'forbidden');
      await user.next('error', (e) => e.code === 'forbidden' && e.event === 'dashboard:watch');
      await assert.rejects(user.nextNew('dashboard:sample', undefined, 4500), /timed out/, 'no samples for a refused watcher');
      const admin = await connectPeer(s.url, { token: (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken });
      peers.push(admin);
      const bad = await admin.call('dashboard:watch', { all: true });
      assert.equal(bad.ok, false);
      assert.equal(bad.error.code, 'invalid-payload');
    });
  });
}
