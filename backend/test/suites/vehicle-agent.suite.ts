import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { AGENT, runAgent, waitFor, type RunningAgent } from '../helpers/agent.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { connectPeer, sleep, type Peer } from '../helpers/sockets.js';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';

/** The vehicle agent as a child process against a real server; on SQLite and PostgreSQL. */
export function vehicleAgentSuite(database: DatabaseFactory) {
  describe('vehicle agent (apps/vehicle)', () => {
    let db: TestDatabase;
    let s: TestServer;
    let admin: string;
    const agents: RunningAgent[] = [];
    const peers: Peer[] = [];
    let n = 0;
    const register = async () => (await s.api('POST', '/api/vehicles', { token: admin, body: { name: `agent-${++n}` } })).body as { id: string; token: string };
    const watcher = async (vehicleId: string) => {
      const p = await connectPeer(s.url, { token: admin });
      peers.push(p);
      await p.next('vehicle:state', (st) => st.vehicleId === vehicleId && st.online, 15000).catch(() => undefined);
      await p.call('watch', { vehicleId });
      return p;
    };

    before(async () => {
      db = await database();
      s = await startServer(db.env);
      admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
    });
    after(async () => {
      for (const a of agents) a.child.kill('SIGKILL');
      for (const p of peers) p.close();
      await s.close();
      await db.cleanup();
    });

    it('sim: relays real JPEG frames and 10 Hz telemetry; driving moves the car; the dead-man stops it after 500 ms', async () => {
      const v = await register();
      const agent = runAgent(['--server', s.url, '--token', v.token, '--fps', '10', '--size', '160x120', '--controls-out', '-', '--name', 'sim']);
      agents.push(agent);
      const w = await watcher(v.id);
      const [meta, bytes] = await w.next('frame', undefined, 15000);
      assert.deepEqual([meta.width, meta.height, meta.codec], [160, 120, 'jpeg']);
      const jpeg = Buffer.from(bytes);
      assert.deepEqual([jpeg[0], jpeg[1], jpeg[jpeg.length - 2], jpeg[jpeg.length - 1]], [0xff, 0xd8, 0xff, 0xd9]);
      const [t0] = await w.next('telemetry', undefined, 5000);
      assert.equal(t0.speed, 0);
      assert.equal(await w.call('drive:acquire', { vehicleId: v.id }).then((r) => r.ok), true);
      for (let seq = 1; seq <= 20; seq++) {
        w.socket.emit('control', { vehicleId: v.id, seq, throttle: 1, steer: 0, sentAt: Date.now() });
        await sleep(30);
      }
      const [ack] = await w.next('control:ack');
      assert.ok(ack.rttMs >= 0);
      const [moving] = await w.next('telemetry', (t) => t.speed > 0.5, 3000);
      assert.ok(moving.y > t0.y, 'it drove forward (north)');
      const dead = await waitFor(() => agent.lines.find((l) => l.reason === 'deadman'), 3000);
      const lastControl = agent.lines.filter((l) => l.reason === 'control').at(-1);
      assert.equal(lastControl.seq, 20);
      assert.equal(lastControl.throttle, 1);
      assert.deepEqual([dead.throttle, dead.steer], [0, 0]);
      assert.ok(dead.at - lastControl.at >= 450, `dead-man after ${dead.at - lastControl.at} ms`);
      await w.next('telemetry', (t) => t.speed === 0, 3000);
      agent.child.kill('SIGINT');
      assert.equal(await agent.exited, 0, 'clean exit on SIGINT');
    });

    it('ffmpeg source: relays the MJPEG frames of ffmpeg -f lavfi -i testsrc2', async () => {
      const v = await register();
      const agent = runAgent(['--server', s.url, '--token', v.token, '--source', 'ffmpeg:lavfi:testsrc2=size=320x240:rate=10', '--fps', '10', '--size', '160x120']);
      agents.push(agent);
      const w = await watcher(v.id);
      for (let i = 0; i < 3; i++) {
        const [meta, bytes] = await w.next('frame', undefined, 15000);
        w.socket.emit('frame:ack', { vehicleId: v.id, seq: meta.seq });
        const jpeg = Buffer.from(bytes);
        assert.equal(jpeg.readUInt16BE(0), 0xffd8);
        assert.equal(jpeg.readUInt16BE(jpeg.length - 2), 0xffd9);
        assert.ok(jpeg.length > 500, `a real picture (${jpeg.length} bytes)`);
      }
      agent.child.kill('SIGTERM');
      assert.equal(await agent.exited, 0);
    });

    it('refuses bad arguments with a message (exit 2) and a bad token (exit 1)', async () => {
      for (const args of [['--token', 't', '--fps', '0'], ['--token', 't', '--size', 'big'], ['--token', 't', '--source', 'webcam'], ['--server', 'ftp://x', '--token', 't'], ['--bogus', '1'], []]) {
        const r = spawnSync(process.execPath, [AGENT, ...args], { encoding: 'utf8', env: { ...process.env, VICER_VEHICLE_TOKEN: '' } });
        assert.equal(r.status, 2, args.join(' '));
        assert.match(r.stderr, /^error: /);
      }
      const bad = runAgent(['--server', s.url, '--token', 'vt_wrong']);
      assert.equal(await bad.exited, 1);
      assert.match(bad.stderr(), /unauthorized/);
    });
  });
}
