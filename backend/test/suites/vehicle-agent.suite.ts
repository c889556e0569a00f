import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { AGENT, runAgent, waitFor, type RunningAgent } from '../helpers/agent.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { connectPeer, sleep, type Peer } from '../helpers/sockets.js';
import { renameTable, type DatabaseFactory, type TestDatabase } from '../helpers/databases.js';
import { startShapingProxy } from '../../../bench/shaping-proxy.js';

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

    it('H.264 from the simulator: a key frame with its decoder config first, access units in AVC format, late watchers start from a key frame', { timeout: 60_000 }, async () => {
      const v = await register();
      const agent = runAgent(['--server', s.url, '--token', v.token, '--codec', 'h264', '--fps', '15', '--size', '320x240']);
      agents.push(agent);
      const w = await connectPeer(s.url, { token: admin });
      peers.push(w);
      await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.online, 15000);
      assert.equal((await w.call('watch', { vehicleId: v.id, codecs: ['h264', 'jpeg'] })).codec, 'h264');
      const frames: { meta: any; bytes: Buffer }[] = [];
      for (let i = 0; i < 10; i++) {
        const [meta, bytes] = await w.next('frame', undefined, 15000);
        w.socket.emit('frame:ack', { vehicleId: v.id, seq: meta.seq });
        frames.push({ meta, bytes: Buffer.from(bytes) });
      }
      assert.equal(frames[0].meta.codec, 'h264');
      assert.equal(frames[0].meta.key, true, 'the first frame a watcher gets is a key frame');
      assert.match(frames[0].meta.config.codec, /^avc1\.42[0-9A-F]{4}$/, 'constrained baseline');
      const avcc = Buffer.from(frames[0].meta.config.description, 'base64');
      assert.equal(avcc[0], 1, 'an AVCDecoderConfigurationRecord');
      for (const f of frames) {
        // Length-prefixed NAL units covering the access unit exactly.
        let i = 0;
        while (i < f.bytes.length) i += 4 + f.bytes.readUInt32BE(i);
        assert.equal(i, f.bytes.length);
      }
      assert.ok(frames.slice(1).some((f) => !f.meta.key), 'P-frames follow');
      assert.ok(frames.every((f, i) => i === 0 || f.meta.seq > frames[i - 1].meta.seq));
      const late = await connectPeer(s.url, { token: admin });
      peers.push(late);
      await late.call('watch', { vehicleId: v.id, codecs: ['h264'] });
      const [first] = await late.next('frame', undefined, 5000);
      assert.equal(first.key, true, 'a late watcher starts from a key frame');
      assert.ok(first.config);
      agent.child.kill('SIGTERM');
      assert.equal(await agent.exited, 0);
    });

    it('H.264 from ffmpeg (a camera, file or URL): decoded once, encoded to H.264; a JPEG viewer gets JPEG beside it', { timeout: 60_000 }, async () => {
      const v = await register();
      const agent = runAgent(['--server', s.url, '--token', v.token, '--source', 'ffmpeg:lavfi:testsrc2=size=320x240:rate=15', '--codec', 'h264', '--fps', '15', '--size', '320x240']);
      agents.push(agent);
      const h = await connectPeer(s.url, { token: admin });
      const j = await connectPeer(s.url, { token: admin });
      peers.push(h, j);
      await h.next('vehicle:state', (st) => st.vehicleId === v.id && st.online, 15000);
      await h.call('watch', { vehicleId: v.id, codecs: ['h264'] });
      assert.equal((await j.call('watch', { vehicleId: v.id, codecs: ['jpeg'] })).codec, 'jpeg');
      const [hm] = await h.next('frame', undefined, 15000);
      assert.deepEqual([hm.codec, hm.key], ['h264', true]);
      const [jm, jb] = await j.next('frame', (m) => m.codec === 'jpeg', 15000);
      assert.equal(jm.width, 320);
      assert.equal(Buffer.from(jb).readUInt16BE(0), 0xffd8);
      assert.match(agent.stderr(), /video: H\.264 at 800k/);
      assert.match(agent.stderr(), /a watcher needs JPEG/);
      agent.child.kill('SIGTERM');
      assert.equal(await agent.exited, 0);
    });

    it('stale commands: a control older than 250 ms in server time when it reaches the agent is not applied, and is counted in telemetry', { timeout: 30_000 }, async () => {
      const v = await register();
      // A link that holds every byte 300 ms each way between the agent and the server: what leaves the server fresh
      // reaches the agent stale (the server's own gate lets it pass: it was fresh there).
      const link = await startShapingProxy(Number(new URL(s.url).port), { rateBps: 100e6, delayMs: 300 });
      try {
        const agent = runAgent(['--server', `http://127.0.0.1:${link.port}`, '--token', v.token, '--codec', 'jpeg', '--fps', '5', '--size', '160x120', '--controls-out', '-']);
        agents.push(agent);
        const w = await watcher(v.id);
        await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.online, 10_000);
        await sleep(4000); // the agent’s clock sync: five round trips of 600 ms
        assert.equal((await w.call('drive:acquire', { vehicleId: v.id })).ok, true);
        await waitFor(() => agent.lines.find((l) => l.reason === 'seat'), 5000);
        for (let seq = 1; seq <= 3; seq++) w.socket.emit('control', { vehicleId: v.id, seq, throttle: 1, steer: 0, sentAt: Date.now() });
        const [tel] = await w.next('telemetry', (t) => t.staleControls === 3, 5000);
        assert.equal(tel.speed, 0);
        assert.equal(agent.lines.filter((l) => l.reason === 'control').length, 0, 'none was applied');
        // Dated 200 ms ahead, it is 100 ms old when it arrives: applied.
        w.socket.emit('control', { vehicleId: v.id, seq: 4, throttle: 1, steer: 0, sentAt: Date.now() + 200 });
        await waitFor(() => agent.lines.find((l) => l.reason === 'control' && l.seq === 4), 5000);
        agent.child.kill('SIGTERM');
      } finally {
        link.server.close();
      }
    });

    it('the server gates stale commands too: a control older than 250 ms when it reaches the vehicle’s instance is not forwarded', { timeout: 30_000 }, async () => {
      const v = await register();
      const agent = runAgent(['--server', s.url, '--token', v.token, '--codec', 'jpeg', '--fps', '5', '--size', '160x120', '--controls-out', '-']);
      agents.push(agent);
      const w = await watcher(v.id);
      assert.equal((await w.call('drive:acquire', { vehicleId: v.id })).ok, true);
      await waitFor(() => agent.lines.find((l) => l.reason === 'seat'), 10_000);
      for (let seq = 1; seq <= 3; seq++) w.socket.emit('control', { vehicleId: v.id, seq, throttle: 1, steer: 0, sentAt: Date.now() - 1000 });
      w.socket.emit('control', { vehicleId: v.id, seq: 4, throttle: 0.5, steer: 0, sentAt: Date.now() });
      const applied = await waitFor(() => agent.lines.find((l) => l.reason === 'control'), 5000);
      assert.equal(applied.seq, 4, 'the first control the vehicle applied is the fresh one');
      const stats = (await (await fetch(`${s.url}/api/vehicles/${v.id}/stats`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { controlsDropped: number };
      assert.ok(stats.controlsDropped >= 3, `the three stale ones were dropped at the server (${stats.controlsDropped})`);
      agent.child.kill('SIGTERM');
    });

    it('a database failure during the handshake is not a refused token: the agent keeps trying and comes online once the database answers', { timeout: 60_000 }, async () => {
      const v = await register();
      // The vehicles table gone for a while: the server cannot check any vehicle token (its database fails, for real).
      // Watching for the vehicle to come online (users' handshakes do not read the vehicles table).
      const w = await connectPeer(s.url, { token: admin });
      peers.push(w);
      await renameTable(db, 'vehicles', 'vehicles_away');
      let agent: RunningAgent;
      try {
        const refused = await connectPeer(s.url, { vehicleToken: v.token }).then(
          (p) => (p.close(), undefined),
          (err: Error & { data?: { code?: string } }) => err,
        );
        assert.ok(refused, 'the handshake was refused');
        assert.notEqual(refused.message, 'unauthorized');
        assert.equal(refused.data?.code, 'unavailable');
        agent = runAgent(['--server', s.url, '--token', v.token, '--codec', 'jpeg', '--fps', '5', '--size', '160x120']);
        agents.push(agent);
        await waitFor(() => (/cannot connect: .*retrying/.test(agent.stderr()) ? true : undefined), 15_000);
      } finally {
        await renameTable(db, 'vehicles_away', 'vehicles');
      }
      // The same token works as soon as the database answers, and the agent never gave up.
      await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.online, 30_000);
      assert.equal(agent.child.exitCode, null, 'the agent is still running');
      assert.doesNotMatch(agent.stderr(), /unauthorized/);
      agent.child.kill('SIGTERM');
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
