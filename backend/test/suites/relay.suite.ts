import { JwtService } from '@nestjs/jwt';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { encodeFrameAck, encodeFrameMessage, RELAY_LIMITS, type FrameMeta } from '../../src/protocol/index.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from '../helpers/server.js';
import { connectPeer, fakeJpeg, sleep, type Peer } from '../helpers/sockets.js';
import type { DatabaseFactory, TestDatabase } from '../helpers/databases.js';

/** The relay: handshakes, socket roles, video fan-out, driving rules, vehicles REST; on SQLite and PostgreSQL. */
export function relaySuite(database: DatabaseFactory) {
  describe('relay gateway', () => {
    let db: TestDatabase;
    let s: TestServer;
    let admin: string;
    let alice: { token: string; id: string };
    let bob: { token: string; id: string };
    const peers: Peer[] = [];
    const track = (p: Peer) => (peers.push(p), p);
    const user = (token: string) => connectPeer(s.url, { token }).then(track);
    let n = 0;
    const meta = (seq: number) => ({ seq, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' as const });

    async function vehicle() {
      const res = await s.api('POST', '/api/vehicles', { token: admin, body: { name: `rover-${++n}` } });
      assert.equal(res.status, 201);
      const peer = track(await connectPeer(s.url, { vehicleToken: res.body.token }));
      return { id: res.body.id as string, token: res.body.token as string, peer };
    }
    const control = (vehicleId: string, seq: number, throttle = 0.5, steer = 0) => ({ vehicleId, seq, throttle, steer, sentAt: Date.now() });

    before(async () => {
      db = await database();
      s = await startServer(db.env);
      admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      const make = async (email: string) => {
        await s.api('POST', '/api/auth/signup', { body: { email, password: 'password-123', name: email.split('@')[0] } });
        const l = await s.login(email, 'password-123');
        return { token: l.accessToken, id: l.user.id };
      };
      alice = await make('alice@example.com');
      bob = await make('bob@example.com');
    });
    after(async () => {
      for (const p of peers) p.close();
      await s.close();
      await db.cleanup();
    });

    describe('handshake', () => {
      it('refuses a missing, bad, or mixed auth with connect_error "unauthorized"', async () => {
        for (const auth of [undefined, {}, { token: 'garbage' }, { vehicleToken: 'vt_nope' }, { token: alice.token, vehicleToken: 'x' }, { token: 42 }]) {
          await assert.rejects(connectPeer(s.url, auth as any), (err: Error) => err.message === 'unauthorized', JSON.stringify(auth));
        }
      });
      it('refuses an expired access token, and disconnects a socket when its token expires ("token expired")', async () => {
        const jwt = s.app.get(JwtService);
        const me = await s.login('alice@example.com', 'password-123');
        const { sid } = JSON.parse(Buffer.from(me.accessToken.split('.')[1], 'base64url').toString());
        const expired = await jwt.signAsync({ sub: me.user.id, sid }, { expiresIn: -10 });
        await assert.rejects(connectPeer(s.url, { token: expired }), /unauthorized/);
        const short = await jwt.signAsync({ sub: me.user.id, sid }, { expiresIn: 1 });
        const p = track(await connectPeer(s.url, { token: short }));
        const [err] = await p.next('error', (e) => e.code === 'token-expired', 4000);
        assert.equal(err.message, 'token expired');
        await new Promise((r) => (p.socket.connected ? p.socket.once('disconnect', r) : r(null)));
        assert.equal(p.socket.connected, false);
      });
      it('keeps a socket that re-authenticates with a fresh token before expiry', async () => {
        const jwt = s.app.get(JwtService);
        const me = await s.login('alice@example.com', 'password-123');
        const { sid } = JSON.parse(Buffer.from(me.accessToken.split('.')[1], 'base64url').toString());
        const p = track(await connectPeer(s.url, { token: await jwt.signAsync({ sub: me.user.id, sid }, { expiresIn: 1 }) }));
        assert.deepEqual(await p.call('auth', { token: me.accessToken }), { ok: true });
        await sleep(1500);
        assert.equal(p.socket.connected, true);
        assert.equal(p.count('error'), 0);
        const other = await p.call('auth', { token: bob.token });
        assert.equal(other.error.code, 'forbidden', 'a socket cannot switch users');
      });
      it('a rotated vehicle token stops working and its connected vehicle is disconnected', async () => {
        const v = await vehicle();
        const gone = new Promise((r) => v.peer.socket.once('disconnect', r));
        const rotated = await s.api('POST', `/api/vehicles/${v.id}/token`, { token: admin });
        assert.equal(rotated.status, 200);
        assert.notEqual(rotated.body.token, v.token);
        await gone;
        await assert.rejects(connectPeer(s.url, { vehicleToken: v.token }), /unauthorized/);
        track(await connectPeer(s.url, { vehicleToken: rotated.body.token }));
      });
      it('signing out closes that session’s sockets', async () => {
        const me = await s.login('bob@example.com', 'password-123');
        const p = track(await user(me.accessToken));
        await s.api('POST', '/api/auth/logout', { token: me.accessToken });
        await p.next('error', (e) => e.code === 'token-expired');
      });
    });

    describe('roles of sockets', () => {
      it('a vehicle cannot send control; a user cannot send frame or telemetry', async () => {
        const v = await vehicle();
        const w = await user(alice.token);
        v.peer.socket.emit('control', control(v.id, 1));
        const [e1] = await v.peer.next('error');
        assert.deepEqual([e1.code, e1.event], ['forbidden', 'control']);
        await w.call('watch', { vehicleId: v.id });
        w.socket.emit('frame', meta(1), fakeJpeg(1));
        w.socket.emit('telemetry', { speed: 1 });
        assert.equal((await w.next('error')).at(0).code, 'forbidden');
        assert.equal((await w.next('error')).at(0).code, 'forbidden');
        w.socket.emit('bogus', {});
        assert.equal((await w.next('error')).at(0).code, 'unknown-event');
        await sleep(100);
        assert.equal(w.count('frame'), 0, 'nothing forwarded');
        assert.equal(w.socket.connected, true);
      });
    });

    describe('video', () => {
      it('relays frames to two watchers with the same bytes, vehicleId and relayedAt', async () => {
        const v = await vehicle();
        const [a, b] = [await user(alice.token), await user(bob.token)];
        const ack = await a.call('watch', { vehicleId: v.id });
        assert.equal(ack.ok, true);
        assert.equal(ack.state.online, true);
        await b.call('watch', { vehicleId: v.id });
        const jpeg = fakeJpeg(7, 4096);
        v.peer.socket.emit('frame', meta(0), jpeg);
        for (const w of [a, b]) {
          const [m, bytes] = await w.next('frame');
          assert.equal(m.vehicleId, v.id);
          assert.equal(m.seq, 0);
          assert.equal(typeof m.relayedAt, 'number');
          assert.ok(Buffer.from(bytes).equals(jpeg));
        }
      });

      it('takes frames as one binary message (BINARY_FRAME) like frame events: same relay, same order, same refusals', async () => {
        const v = await vehicle();
        const res = await s.api('POST', '/api/vehicles', { token: admin, body: { name: `rover-polling-${++n}` } });
        const polled = { id: res.body.id as string, peer: track(await connectPeer(s.url, { vehicleToken: res.body.token }, { transports: ['polling'] })) };
        const w = await user(alice.token);
        const send = (p: Peer, m: object, bytes: Buffer) => p.socket.io.engine.send(encodeFrameMessage(m as FrameMeta, bytes));
        for (const x of [v, polled]) {
          await w.call('watch', { vehicleId: x.id });
          // Binary and event forms mixed: one stream, in the order sent, byte for byte (over WebSocket and polling).
          const sent = Array.from({ length: 6 }, (_, i) => fakeJpeg(i, 300 + i * 5000));
          for (let i = 0; i < 6; i++) {
            if (i % 2) x.peer.socket.emit('frame', meta(i), sent[i]);
            else send(x.peer, meta(i), sent[i]);
            const [m, bytes] = await w.next('frame', (f) => f.vehicleId === x.id && f.seq === i);
            assert.equal(typeof m.relayedAt, 'number');
            assert.ok(Buffer.from(bytes).equals(sent[i]), `frame ${i} intact`);
            w.socket.io.engine.send(encodeFrameAck({ vehicleId: x.id, seq: i }));
          }
        }
        // Refused with an error event naming the event and the field, the connection kept: a bad meta, a malformed
        // message, bytes that are not what the meta says; and from a user, any frame.
        const refusals: [Peer, Uint8Array, string, RegExp][] = [
          [v.peer, encodeFrameMessage({ ...meta(9), width: 0 } as FrameMeta, fakeJpeg(9)), 'invalid-payload', /^width: /],
          [v.peer, encodeFrameMessage({ seq: 9, capturedAt: 1, width: 64, height: 48, codec: 'h264' } as FrameMeta, fakeJpeg(9)), 'invalid-payload', /^key: /],
          [v.peer, Buffer.from([0xa2, 0x00, 0x05, 0x7b, 0x7b, 0x7b, 0x7b, 0x7b, 0xff]), 'invalid-payload', /UTF-8 JSON/],
          [v.peer, Buffer.from([0xa2, 0x10, 0x00, 0x7b]), 'invalid-payload', /1 to 2048 bytes/],
          [v.peer, encodeFrameMessage(meta(9), Buffer.from('not a jpeg')), 'invalid-payload', /JPEG bytes/],
          [w, encodeFrameMessage(meta(9), fakeJpeg(9)), 'forbidden', /cannot send frame/],
        ];
        for (const [p, bytes, code, message] of refusals) {
          p.socket.io.engine.send(bytes);
          const [e] = await p.next('error', (x) => x.event === 'frame');
          assert.equal(e.code, code);
          assert.match(e.message, message);
          assert.equal(p.socket.connected, true);
        }
        await sleep(100);
        assert.equal(w.log.filter((e) => e.event === 'frame' && e.args[0].seq === 9).length, 0, 'nothing refused was relayed');
      });

      it('fans out over WebSocket and long-polling alike: every frame, in order, byte for byte, counted in the connection log', async () => {
        // WebSocket watchers get frames framed once and written straight to their socket; a polling one (or a busy
        // socket) the ordinary Engine.IO way. Both must see the same stream, and the log the same traffic.
        const v = await vehicle();
        const ws = await user(alice.token);
        const polling = track(await connectPeer(s.url, { token: bob.token }, { transports: ['polling'] }));
        for (const w of [ws, polling]) {
          await w.call('watch', { vehicleId: v.id });
          w.socket.on('frame', (m: { seq: number }) => w.socket.emit('frame:ack', { vehicleId: v.id, seq: m.seq }));
        }
        const N = 30;
        // Every length encoding of a WebSocket frame: < 126 bytes, 16-bit and 64-bit lengths.
        const sent = Array.from({ length: N }, (_, i) => fakeJpeg(i, i === N - 1 ? 70_000 : 100 + i * 997));
        for (let i = 0; i < N; i++) {
          // Telemetry just before a frame: the frame written straight to the socket must not overtake it while
          // Engine.IO still holds it.
          if (i % 7 === 0) v.peer.socket.emit('telemetry', { speed: i });
          v.peer.socket.emit('frame', meta(i), sent[i]);
          await Promise.all([ws, polling].map((w) => w.next('frame', (m) => m.seq === i)));
        }
        for (const w of [ws, polling]) {
          const got = w.log.filter((e) => e.event === 'frame');
          assert.deepEqual(got.map((e) => e.args[0].seq), [...Array(N).keys()]);
          got.forEach((e, i) => assert.ok(Buffer.from(e.args[1]).equals(sent[i]), `frame ${i} intact`));
          const order = w.log.filter((e) => e.event === 'frame' || e.event === 'telemetry').map((e) => (e.event === 'frame' ? `f${e.args[0].seq}` : `t${e.args[0].speed}`));
          for (let i = 0; i < N; i += 7) assert.ok(order.indexOf(`t${i}`) === order.indexOf(`f${i}`) - 1, `telemetry ${i} right before frame ${i}: ${order.join(' ')}`);
        }
        const bytes = sent.reduce((a, b) => a + b.length, 0);
        const rows = (await s.api('GET', `/api/connections?state=active&pageSize=100`, { token: admin })).body.items;
        for (const id of [alice.id, bob.id]) {
          const row = rows.filter((r: any) => r.userId === id).sort((a: any, b: any) => b.bytesOut - a.bytesOut)[0];
          assert.ok(row.bytesOut >= bytes && row.messagesOut >= N, `${id}: ${row.bytesOut} bytes, ${row.messagesOut} messages out for ${bytes} bytes of ${N} frames`);
        }
      });

      it('a stalled watcher (never acks) does not slow a fast one; it holds at most the credit window', async () => {
        const v = await vehicle();
        const fast = await user(alice.token);
        const stalled = await user(bob.token);
        await fast.call('watch', { vehicleId: v.id });
        await stalled.call('watch', { vehicleId: v.id });
        const N = 40;
        for (let i = 0; i < N; i++) {
          v.peer.socket.emit('frame', meta(i), fakeJpeg(i));
          const [m] = await fast.next('frame', (x) => x.seq === i);
          fast.socket.emit('frame:ack', { vehicleId: v.id, seq: m.seq });
        }
        await sleep(100);
        assert.equal(fast.count('frame'), N, 'the fast watcher got every frame');
        assert.equal(stalled.count('frame'), RELAY_LIMITS.creditWindow, 'the stalled watcher only its window');
        const stats = await s.api('GET', `/api/vehicles/${v.id}/stats`, { token: admin });
        assert.equal(stats.status, 200);
        assert.equal(stats.body.framesIn, N);
        assert.equal(stats.body.framesSkipped, N - RELAY_LIMITS.creditWindow);
        const byName = Object.fromEntries(stats.body.watchers.map((w: any) => [w.name, w]));
        assert.equal(byName.alice.sent, N);
        assert.equal(byName.alice.skipped, 0);
        assert.equal(byName.bob.skipped, N - RELAY_LIMITS.creditWindow);
        assert.equal(byName.bob.inFlight, RELAY_LIMITS.creditWindow);
        // Credit back: the stalled watcher gets the newest frame, not the ones it missed.
        stalled.socket.emit('frame:ack', { vehicleId: v.id, seq: 0 });
        const [latest] = await stalled.next('frame', (x) => x.seq === N - 1);
        assert.equal(latest.seq, N - 1);
      });

      it('a frame ack in binary form (outside any Socket.IO packet) returns the credit as the event does, and counts as a message', async () => {
        const v = await vehicle();
        const w = await user(alice.token);
        await w.call('watch', { vehicleId: v.id });
        const engine = w.socket.io.engine as unknown as { send(d: Uint8Array): void };
        const N = 20;
        for (let i = 0; i < N; i++) {
          v.peer.socket.emit('frame', meta(i), fakeJpeg(i));
          // Without the credit back, frames past the window would be skipped and this wait would time out.
          const [m] = await w.next('frame', (x) => x.seq === i);
          engine.send(encodeFrameAck({ vehicleId: v.id, seq: m.seq }));
        }
        let mine: any;
        for (let i = 0; i < 100 && !(mine?.acked === N); i++) {
          if (i) await sleep(20);
          const stats = await s.api('GET', `/api/vehicles/${v.id}/stats`, { token: admin });
          mine = stats.body.watchers.find((x: any) => x.userId === alice.id);
        }
        assert.deepEqual({ sent: mine.sent, skipped: mine.skipped, acked: mine.acked, inFlight: mine.inFlight }, { sent: N, skipped: 0, acked: N, inFlight: 0 });
        assert.equal(w.count('error'), 0);
        // Counted before the ack is applied: the watch call and the N acks are all in the live counters now.
        const counts = (await s.api('GET', `/api/connections?state=active&userId=${alice.id}`, { token: admin })).body.items.map((c: any) => c.messagesIn);
        assert.ok(counts.includes(N + 1), `the acks are counted as messages in: ${JSON.stringify(counts)}`);
      });

      it('a late watcher gets the latest frame at once', async () => {
        const v = await vehicle();
        for (let i = 0; i < 5; i++) v.peer.socket.emit('frame', meta(i), fakeJpeg(i));
        await sleep(150);
        const late = await user(alice.token);
        await late.call('watch', { vehicleId: v.id });
        const [m] = await late.next('frame');
        assert.equal(m.seq, 4);
      });

      describe('H.264', () => {
        const CONFIG = { codec: 'avc1.42C01E', description: Buffer.from([1, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0xc0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]).toString('base64') };
        /** An access unit in AVC format: one NAL (IDR or P slice) after its 4-byte length, tagged to tell frames apart. */
        const au = (key: boolean, tag: number) => Buffer.from([0, 0, 0, 3, key ? 0x65 : 0x41, 0x88, tag & 0xff]);
        const h264 = (seq: number, key: boolean) => ({ seq, capturedAt: Date.now(), width: 64, height: 48, codec: 'h264' as const, key, ...(key ? { config: CONFIG } : {}) });
        async function h264Vehicle() {
          const v = await vehicle();
          v.peer.socket.emit('video:caps', { codecs: ['h264'], jpegOnRequest: true });
          await sleep(50);
          return v;
        }
        const watchH264 = async (w: Peer, vehicleId: string) => {
          const ack = await w.call('watch', { vehicleId, codecs: ['h264', 'jpeg'] });
          assert.equal(ack.codec, 'h264');
        };

        it('a watcher gets the key frame (with its decoder config) and the P-frames after it, in order', async () => {
          const v = await h264Vehicle();
          const w = await user(alice.token);
          await watchH264(w, v.id);
          v.peer.socket.emit('frame', h264(0, true), au(true, 0));
          for (let i = 1; i <= 3; i++) v.peer.socket.emit('frame', h264(i, false), au(false, i));
          const got = [];
          for (let i = 0; i <= 3; i++) {
            const [m, bytes] = await w.next('frame');
            got.push([m.seq, m.key, Buffer.from(bytes)[6]]);
            w.socket.emit('frame:ack', { vehicleId: v.id, seq: m.seq });
          }
          assert.deepEqual(got, [
            [0, true, 0],
            [1, false, 1],
            [2, false, 2],
            [3, false, 3],
          ]);
        });

        it('a late watcher starts at once from the current group of pictures (key frame first), not at the next key frame', async () => {
          const v = await h264Vehicle();
          v.peer.socket.emit('frame', h264(0, true), au(true, 0));
          for (let i = 1; i <= 5; i++) v.peer.socket.emit('frame', h264(i, false), au(false, i));
          await sleep(100);
          const late = await user(bob.token);
          await watchH264(late, v.id);
          const seqs = [];
          for (let i = 0; i <= 5; i++) seqs.push((await late.next('frame')).at(0).seq);
          assert.deepEqual(seqs, [0, 1, 2, 3, 4, 5]);
          assert.equal(v.peer.count('keyframe:request'), 0, 'no key frame was needed: the group was at hand');
          // It is in step: the next live P-frame comes at once.
          late.socket.emit('frame:ack', { vehicleId: v.id, seq: 5 });
          v.peer.socket.emit('frame', h264(6, false), au(false, 6));
          assert.equal((await late.next('frame')).at(0).seq, 6);
        });

        it('a stalled watcher is fed nothing it cannot decode: when it resumes it gets the group from its key frame first', async () => {
          const v = await h264Vehicle();
          const w = await user(alice.token);
          await watchH264(w, v.id);
          v.peer.socket.emit('frame', h264(0, true), au(true, 0));
          for (let i = 1; i <= 14; i++) v.peer.socket.emit('frame', h264(i, false), au(false, i));
          await sleep(150);
          // Its credit (10 frames) ran out: it got 0..9, then lost 10..14 (it never acked).
          const first = [];
          for (let i = 0; i < 10; i++) first.push((await w.next('frame')).at(0).seq);
          assert.deepEqual(first, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
          assert.equal(w.count('frame'), 10);
          w.socket.emit('frame:ack', { vehicleId: v.id, seq: 9 });
          const resumed = [];
          for (let i = 0; i < 15; i++) resumed.push((await w.next('frame')).at(0));
          assert.equal(resumed[0].key, true, 'the first frame after the gap is a key frame');
          assert.deepEqual(
            resumed.map((m) => m.seq),
            Array.from({ length: 15 }, (_, i) => i),
            'then every frame after it',
          );
        });

        it('keyframe:request: a watcher with nothing to start from makes the server ask the vehicle — once for many watchers, at most once a second', async () => {
          const v = await h264Vehicle();
          const watchers = await Promise.all([alice, bob, alice, bob].map((u) => user(u.token)));
          for (const w of watchers) await watchH264(w, v.id);
          await v.peer.next('keyframe:request');
          await sleep(300);
          assert.equal(v.peer.count('keyframe:request'), 1, 'coalesced across four watchers');
          // A P-frame alone is refused to all of them (they wait for a key frame).
          v.peer.socket.emit('frame', h264(0, false), au(false, 0));
          await sleep(100);
          assert.equal(watchers.reduce((n, w) => n + w.count('frame'), 0), 0);
          v.peer.socket.emit('frame', h264(1, true), au(true, 1));
          for (const w of watchers) assert.equal((await w.next('frame')).at(0).seq, 1);
        });

        it('a viewer without H.264 gets JPEG: the vehicle is asked for it beside its H.264, and told when nobody needs it', async () => {
          const v = await h264Vehicle();
          const w = await user(bob.token);
          const ack = await w.call('watch', { vehicleId: v.id, codecs: ['jpeg'] });
          assert.equal(ack.codec, 'jpeg');
          assert.deepEqual((await v.peer.next('video:config', (c) => c.jpeg === true)).at(0), { jpeg: true });
          v.peer.socket.emit('frame', h264(0, true), au(true, 0));
          v.peer.socket.emit('frame', meta(1), fakeJpeg(1));
          const [m] = await w.next('frame');
          assert.equal(m.codec, 'jpeg', 'JPEG watchers get only JPEG');
          await w.call('unwatch', { vehicleId: v.id });
          assert.deepEqual((await v.peer.next('video:config', (c) => c.jpeg === false)).at(0), { jpeg: false });
          // A vehicle that can send only H.264: a JPEG-only viewer is told it cannot watch.
          const only = await vehicle();
          only.peer.socket.emit('video:caps', { codecs: ['h264'] });
          await sleep(50);
          const refused = await w.call('watch', { vehicleId: only.id, codecs: ['jpeg'] });
          assert.deepEqual([refused.ok, refused.error.code], [false, 'codec-unavailable']);
        });

        it('refuses invalid H.264 meta and bytes that are not an access unit in AVC format', async () => {
          const v = await h264Vehicle();
          const w = await user(alice.token);
          await watchH264(w, v.id);
          const bad: [unknown, unknown][] = [
            [{ ...h264(1, false), key: undefined }, au(false, 1)],
            [{ ...h264(2, false), key: 'yes' }, au(false, 2)],
            [{ ...h264(3, true), config: undefined }, au(true, 3)],
            [{ ...h264(4, true), config: { codec: 'vp8', description: 'AAAA' } }, au(true, 4)],
            [h264(5, true), Buffer.from([0, 0, 0, 9, 0x65])],
            [h264(6, false), fakeJpeg(6)],
            [{ ...meta(7), key: true }, fakeJpeg(7)],
          ];
          for (const [m, b] of bad) v.peer.socket.emit('frame', m, b);
          const errors = [];
          for (let i = 0; i < bad.length; i++) errors.push((await v.peer.next('error')).at(0));
          assert.ok(errors.every((e) => e.code === 'invalid-payload'), JSON.stringify(errors));
          assert.match(errors[0].message, /key: is required/);
          assert.match(errors[2].message, /config: a key frame carries its decoder config/);
          await sleep(100);
          assert.equal(w.count('frame'), 0);
        });
      });

      it('clock: the ack carries the server time', async () => {
        const w = await user(alice.token);
        const before = Date.now();
        const ack = await w.call('clock', { t0: 42 });
        assert.equal(ack.t0, 42);
        assert.ok(ack.server >= before && ack.server <= Date.now());
        const v = await vehicle();
        assert.equal((await v.peer.call('clock', { t0: 7 })).t0, 7, 'vehicles too');
      });

      it('refuses a frame whose bytes are not JPEG, and bad frame meta', async () => {
        const v = await vehicle();
        const w = await user(alice.token);
        await w.call('watch', { vehicleId: v.id });
        v.peer.socket.emit('frame', meta(1), Buffer.from('not a jpeg'));
        v.peer.socket.emit('frame', meta(2), 'base64-string');
        v.peer.socket.emit('frame', { ...meta(3), codec: 'png' }, fakeJpeg(3));
        v.peer.socket.emit('frame', { ...meta(4), width: -1 }, fakeJpeg(4));
        for (let i = 0; i < 4; i++) assert.equal((await v.peer.next('error')).at(0).code, 'invalid-payload');
        await sleep(100);
        assert.equal(w.count('frame'), 0);
      });

      it('relays telemetry to watchers and refuses telemetry over 4 KiB', async () => {
        const v = await vehicle();
        const w = await user(alice.token);
        await w.call('watch', { vehicleId: v.id });
        v.peer.socket.emit('telemetry', { speed: 1.5, heading: 90, battery: 80 });
        const [t] = await w.next('telemetry');
        assert.deepEqual([t.vehicleId, t.speed, t.heading, t.battery], [v.id, 1.5, 90, 80]);
        v.peer.socket.emit('telemetry', { blob: 'x'.repeat(5000) });
        v.peer.socket.emit('telemetry', 'speed=1');
        assert.equal((await v.peer.next('error')).at(0).code, 'invalid-payload');
        assert.equal((await v.peer.next('error')).at(0).code, 'invalid-payload');
        await sleep(100);
        assert.equal(w.count('telemetry'), 1);
      });

      it('vehicle disconnect tells watchers it is offline; its reconnect resumes relaying', async () => {
        const v = await vehicle();
        const w = await user(alice.token);
        await w.call('watch', { vehicleId: v.id });
        v.peer.close();
        await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.online === false);
        const again = track(await connectPeer(s.url, { vehicleToken: v.token }));
        await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.online === true);
        again.socket.emit('frame', meta(0), fakeJpeg(0));
        assert.equal((await w.next('frame')).at(0).vehicleId, v.id);
      });
    });

    describe('driving', () => {
      it('one driver: a second one is refused; an admin can take over, and the previous driver is told', async () => {
        const v = await vehicle();
        const a = await user(alice.token);
        const b = await user(bob.token);
        const first = await a.call('drive:acquire', { vehicleId: v.id });
        assert.deepEqual(first, { ok: true, driver: { userId: alice.id, name: 'alice' } });
        const second = await b.call('drive:acquire', { vehicleId: v.id });
        assert.equal(second.ok, false);
        assert.equal(second.driver.userId, alice.id);
        assert.equal((await b.next('error')).at(0).code, 'driver-busy');
        const forced = await b.call('drive:acquire', { vehicleId: v.id, force: true });
        assert.equal(forced.ok, false);
        assert.equal(forced.error.code, 'forbidden', 'force is for admins');
        const boss = await user(admin);
        const take = await boss.call('drive:acquire', { vehicleId: v.id, force: true });
        assert.equal(take.ok, true);
        const [revoked] = await a.next('drive:revoked');
        assert.equal(revoked.reason, 'takeover');
        await v.peer.next('stop');
        a.socket.emit('control', control(v.id, 1));
        assert.equal((await a.next('error', (e) => e.event === 'control')).at(0).code, 'not-driver');
      });

      it('forwards controls with seq strictly increasing and answers control:ack with the round trip', async () => {
        const v = await vehicle();
        const d = await user(alice.token);
        await d.call('drive:acquire', { vehicleId: v.id });
        v.peer.socket.on('control', (c: any) => v.peer.socket.emit('control:ack', { seq: c.seq }));
        const sent = control(v.id, 5, 0.25, -0.5);
        d.socket.emit('control', sent);
        const [c] = await v.peer.next('control');
        const [seat] = await v.peer.next('seat');
        assert.equal(typeof seat.fence, 'number', 'the vehicle was told the seat’s fencing token before its first control');
        assert.deepEqual(c, { seq: 5, throttle: 0.25, steer: -0.5, sentAt: sent.sentAt, fence: seat.fence }, 'the send time and the seat’s token go along');
        const [ack] = await d.next('control:ack');
        assert.equal(ack.seq, 5);
        assert.ok(ack.rttMs >= 0 && ack.rttMs < 5000);
        d.socket.emit('control', control(v.id, 5));
        d.socket.emit('control', control(v.id, 3));
        assert.equal((await d.next('error')).at(0).code, 'stale-seq');
        assert.equal((await d.next('error')).at(0).code, 'stale-seq');
        await sleep(100);
        assert.equal(v.peer.count('control'), 1);
      });

      it('refuses every invalid control payload with an error and forwards none; the connection stays up', async () => {
        const v = await vehicle();
        const d = await user(alice.token);
        await d.call('drive:acquire', { vehicleId: v.id });
        const bad: [string, unknown][] = [
          ['NaN', { ...control(v.id, 1), throttle: NaN }],
          ['+Infinity', { ...control(v.id, 2), steer: Infinity }],
          ['-Infinity', { ...control(v.id, 3), throttle: -Infinity }],
          ['out of range', { ...control(v.id, 4), throttle: 1.5 }],
          ['string', { ...control(v.id, 5), steer: '0.1' }],
          ['missing seq', { vehicleId: v.id, throttle: 0, steer: 0, sentAt: 1 }],
          ['negative seq', { ...control(v.id, -1) }],
          ['fractional seq', { ...control(v.id, 1.5) }],
          ['extra field', { ...control(v.id, 6), boost: true }],
          ['not an object', 'go'],
          ['oversized field', { ...control(v.id, 7), vehicleId: 'x'.repeat(100_000) }],
        ];
        for (const [why, payload] of bad) {
          d.socket.emit('control', payload);
          const [err] = await d.next('error');
          assert.equal(err.code, 'invalid-payload', why);
          assert.equal(err.event, 'control');
        }
        d.socket.emit('control', control(randomUUID(), 8));
        assert.equal((await d.next('error')).at(0).code, 'not-driver', 'unknown vehicle');
        d.socket.emit('watch', { vehicleId: randomUUID() });
        assert.equal((await d.next('error')).at(0).code, 'unknown-vehicle');
        await sleep(100);
        assert.equal(v.peer.count('control'), 0);
        assert.equal(d.socket.connected, true);
      });

      it('drops a flood beyond 60 Hz with one error notice', async () => {
        const v = await vehicle();
        const d = await user(alice.token);
        await d.call('drive:acquire', { vehicleId: v.id });
        // 200 messages at once: far beyond 60 Hz, and no calm moment in which the notice could re-arm.
        for (let i = 1; i <= 200; i++) d.socket.emit('control', control(v.id, i));
        await sleep(300);
        const forwarded = v.peer.count('control');
        assert.ok(forwarded > 0, 'some got through');
        assert.ok(forwarded < 100, `the excess was dropped (forwarded ${forwarded})`);
        assert.equal(d.count('error', (e) => e.code === 'rate-limited'), 1);
        const stats = await s.api('GET', `/api/vehicles/${v.id}/stats`, { token: admin });
        assert.equal(stats.body.controlsForwarded, forwarded);
      });

      it('lease: no control for 1 s sends stop, frees the lock, and tells the driver and watchers', async () => {
        const v = await vehicle();
        const d = await user(alice.token);
        const w = await user(bob.token);
        await w.call('watch', { vehicleId: v.id });
        await d.call('drive:acquire', { vehicleId: v.id });
        d.socket.emit('control', control(v.id, 1));
        await v.peer.next('control');
        const [stop] = await v.peer.next('stop', undefined, 3000);
        assert.equal(stop.reason, 'lease-expired');
        assert.equal((await d.next('drive:revoked')).at(0).reason, 'lease-expired');
        await w.next('vehicle:state', (st) => st.vehicleId === v.id && st.driver === null && st.viewers === 1);
        assert.equal((await w.call('drive:acquire', { vehicleId: v.id })).ok, true, 'the seat is free');
      });

      it('driver disconnect and release both send stop', async () => {
        const v = await vehicle();
        const d = await user(alice.token);
        await d.call('drive:acquire', { vehicleId: v.id });
        await d.call('drive:release', { vehicleId: v.id });
        assert.equal((await v.peer.next('stop')).at(0).reason, 'released');
        const d2 = await user(alice.token);
        await d2.call('drive:acquire', { vehicleId: v.id });
        d2.close();
        assert.equal((await v.peer.next('stop')).at(0).reason, 'driver-disconnected');
        const rel = await d.call('drive:release', { vehicleId: v.id });
        assert.equal(rel.error.code, 'not-driver');
      });

      it('e-stop: any watcher latches it, control is refused, only the driver or an admin clears it, and it survives driver changes', async () => {
        const v = await vehicle();
        const d = await user(alice.token);
        const w = await user(bob.token);
        await d.call('drive:acquire', { vehicleId: v.id });
        const notWatching = await w.call('estop', { vehicleId: v.id });
        assert.equal(notWatching.error.code, 'not-watching');
        await w.call('watch', { vehicleId: v.id });
        const e = await w.call('estop', { vehicleId: v.id });
        assert.equal(e.state.estopped, true);
        await v.peer.next('estop');
        d.socket.emit('control', control(v.id, 1));
        assert.equal((await d.next('error', (x) => x.event === 'control')).at(0).code, 'estopped');
        assert.equal((await w.call('estop:clear', { vehicleId: v.id })).error.code, 'forbidden');
        // The driver leaves and comes back: still latched.
        d.close();
        await v.peer.next('stop');
        const d2 = await user(alice.token);
        await d2.call('drive:acquire', { vehicleId: v.id });
        d2.socket.emit('control', control(v.id, 1));
        assert.equal((await d2.next('error', (x) => x.event === 'control')).at(0).code, 'estopped');
        const cleared = await d2.call('estop:clear', { vehicleId: v.id });
        assert.equal(cleared.state.estopped, false);
        await v.peer.next('estop:clear');
        d2.socket.emit('control', control(v.id, 2));
        assert.equal((await v.peer.next('control')).at(0).seq, 2);
        // An admin who is not driving may clear too.
        await w.call('estop', { vehicleId: v.id });
        const boss = await user(admin);
        assert.equal((await boss.call('estop:clear', { vehicleId: v.id })).ok, true);
      });

      it('the driver who presses E-STOP keeps the controls: its controls renew the lease, none is forwarded, it clears and drives on', { timeout: 20_000 }, async () => {
        const v = await vehicle();
        const d = await user(bob.token);
        await d.call('watch', { vehicleId: v.id });
        assert.equal((await d.call('drive:acquire', { vehicleId: v.id })).ok, true);
        assert.equal((await d.call('estop', { vehicleId: v.id })).state.estopped, true);
        await v.peer.next('estop');
        // 2.5 s of controls at 30 Hz: more than twice the 1 s lease.
        let seq = 0;
        const started = Date.now();
        while (Date.now() - started < 2500) {
          d.socket.emit('control', control(v.id, ++seq));
          await sleep(33);
        }
        assert.equal(d.count('drive:revoked'), 0, 'the seat was kept');
        assert.equal(v.peer.count('control'), 0, 'nothing reached the vehicle');
        assert.equal(v.peer.count('stop'), 0, 'no lease lapse');
        assert.equal(d.count('error', (e) => e.code === 'estopped'), 1, 'told once, not 30 times a second');
        const state = (await s.api('GET', `/api/vehicles/${v.id}`, { token: admin })).body;
        assert.deepEqual([state.driver?.userId, state.estopped], [bob.id, true]);
        assert.equal((await d.call('estop:clear', { vehicleId: v.id })).ok, true, 'the driver clears its own e-stop');
        d.socket.emit('control', control(v.id, ++seq));
        assert.equal((await v.peer.next('control')).at(0).seq, seq, 'and drives on');
        // Silence now lapses the lease as usual, and says so.
        const [revoked] = await d.next('drive:revoked', undefined, 5000);
        assert.equal(revoked.reason, 'lease-expired');
      });

      it('a reconnecting vehicle is told at once that the e-stop is still latched', async () => {
        const v = await vehicle();
        const w = await user(alice.token);
        await w.call('watch', { vehicleId: v.id });
        await w.call('estop', { vehicleId: v.id });
        v.peer.close();
        const again = track(await connectPeer(s.url, { vehicleToken: v.token }));
        await again.next('estop');
      });
    });

    describe('vehicles REST', () => {
      it('admin registers (token once), everyone lists with live state, stats and delete are admin-only', async () => {
        const made = await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'rest-rover' } });
        assert.equal(made.status, 201);
        assert.match(made.body.token, /^vt_/);
        assert.equal((await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'rest-rover' } })).status, 409);
        const bad = await s.api('POST', '/api/vehicles', { token: admin, body: { name: '' } });
        assert.equal(bad.status, 400);
        assert.equal(bad.body.details[0].field, 'name');
        assert.equal((await s.api('POST', '/api/vehicles', { token: alice.token, body: { name: 'mine' } })).status, 403);
        const vp = track(await connectPeer(s.url, { vehicleToken: made.body.token }));
        await sleep(50);
        const list = await s.api('GET', '/api/vehicles', { token: alice.token });
        assert.equal(list.status, 200);
        const row = list.body.find((x: any) => x.id === made.body.id);
        assert.deepEqual({ ...row, createdAt: undefined, lastSeenAt: undefined }, { id: made.body.id, name: 'rest-rover', online: true, driver: null, estopped: false, viewers: 0, fps: 0, createdAt: undefined, lastSeenAt: undefined });
        assert.ok(!JSON.stringify(list.body).includes('token'));
        assert.equal((await s.api('GET', `/api/vehicles/${made.body.id}`, { token: alice.token })).body.name, 'rest-rover');
        assert.equal((await s.api('GET', `/api/vehicles/${randomUUID()}`, { token: alice.token })).status, 404);
        assert.equal((await s.api('GET', `/api/vehicles/${made.body.id}/stats`, { token: alice.token })).status, 403);
        assert.equal((await s.api('GET', '/api/vehicles')).status, 401);
        assert.equal((await s.api('DELETE', `/api/vehicles/${made.body.id}`, { token: alice.token })).status, 403);
        const gone = new Promise((r) => vp.socket.once('disconnect', r));
        assert.equal((await s.api('DELETE', `/api/vehicles/${made.body.id}`, { token: admin })).status, 204);
        await gone;
        assert.equal((await s.api('DELETE', `/api/vehicles/${made.body.id}`, { token: admin })).status, 404);
      });
    });
  });
}
