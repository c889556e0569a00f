import fc from 'fast-check';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { BINARY_FRAME, BINARY_FRAME_ACK, ControlSchema, parseBinaryFrame, decodeFrameAck, FrameMetaSchema, INBOUND_EVENTS, RELAY_LIMITS, TelemetrySchema, type Sender } from '../src/protocol/index.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from './helpers/server.js';
import { connectPeer, fakeJpeg, type Peer } from './helpers/sockets.js';

/**
 * JSON text nested `depth` levels deep. Kept as text: serializers (the client's, fast-check's reports) recurse and
 * would overflow on the object, so it goes on the wire as a raw packet.
 */
class DeepJson {
  constructor(readonly text: string) {}
  static of(depth: number, kind: 'object' | 'array'): DeepJson {
    return new DeepJson(kind === 'object' ? '{"a":'.repeat(depth) + '1' + '}'.repeat(depth) : '['.repeat(depth) + '1' + ']'.repeat(depth));
  }
  toString(): string {
    return `DeepJson(${this.text.length} chars)`;
  }
}

const DEEP = '@@deep@@';

/** Sends `[event, payload]` as a raw Socket.IO packet text on the relay namespace (no client-side encoding). */
function rawEmit(peer: Peer, event: string, payloadJson: string): void {
  (peer.socket.io.engine as unknown as { write(d: string): void }).write(`2/relay,[${JSON.stringify(event)},${payloadJson}]`);
}

/** Hostile payloads: anything JSON can carry, deep nesting, huge strings, binary, wrong types, extra fields. */
function hostile(template: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(template);
  const weird = fc.oneof(
    fc.anything({ maxDepth: 4, withBigInt: false, withMap: false, withSet: false, withDate: false, withTypedArray: false, withSparseArray: false }),
    fc.constantFrom(NaN, Infinity, -Infinity, -0, Number.MAX_VALUE, 2 ** 53 + 1, -1, 1e308, null, '', true),
    fc.string({ maxLength: 40 }),
    fc.integer({ min: 50, max: 20_000 }).map((d) => DeepJson.of(d, 'object')),
    fc.integer({ min: 50, max: 20_000 }).map((d) => DeepJson.of(d, 'array')),
    fc.integer({ min: 1_000, max: 200_000 }).map((n) => 'x'.repeat(n)),
    fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
  );
  return fc.oneof(
    weird,
    // A valid message with one field replaced by something hostile (a field of its own when it has none).
    fc.tuple(keys.length ? fc.constantFrom(...keys) : fc.string({ maxLength: 10 }), weird).map(([k, v]) => (v instanceof DeepJson ? new DeepJson(JSON.stringify({ ...template, [k]: DEEP }).replace(`"${DEEP}"`, v.text)) : { ...template, [k]: v })),
    // A valid message with extra fields.
    fc.dictionary(fc.string({ maxLength: 10 }), weird.filter((v) => !(v instanceof DeepJson)), { maxKeys: 3 }).map((extra) => ({ ...template, ...extra })),
    fc.constant(template),
  );
}

/** The first `error` event about `event` that arrived after the peer's log had `since` entries. */
async function errorAfter(peer: Peer, since: number, event: string): Promise<{ code: string; message: string }> {
  for (let waited = 0; waited < 10_000; waited += 5) {
    const hit = peer.log.slice(since).find((e) => e.event === 'error' && e.args[0]?.event === event);
    if (hit) return hit.args[0];
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no error event for ${event}`);
}

describe('hostile socket input', () => {
  let s: TestServer;
  let admin: string;
  let vehicleId: string;
  let vehicle: Peer;
  let driver: Peer;
  let watcher: Peer;
  let callee: { id: string; peer: Peer };

  before(async () => {
    s = await startServer();
    admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
    const v = await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'fuzz-rover' } });
    vehicleId = v.body.id;
    vehicle = await connectPeer(s.url, { vehicleToken: v.body.token });
    vehicle.socket.on('control', (c: unknown) => vehicle.socket.emit('control:ack', { seq: (c as { seq: number }).seq }));
    await s.api('POST', '/api/auth/signup', { body: { email: 'fuzz.driver@example.com', password: 'password-123', name: 'Fuzz' } });
    driver = await connectPeer(s.url, { token: (await s.login('fuzz.driver@example.com', 'password-123')).accessToken });
    await s.api('POST', '/api/auth/signup', { body: { email: 'fuzz.callee@example.com', password: 'password-123', name: 'Callee' } });
    const c = await s.login('fuzz.callee@example.com', 'password-123');
    callee = { id: c.user.id, peer: await connectPeer(s.url, { token: c.accessToken }) };
    watcher = await connectPeer(s.url, { token: admin });
    assert.equal((await watcher.call('watch', { vehicleId })).ok, true);
    assert.equal((await driver.call('watch', { vehicleId })).ok, true);
    assert.equal((await driver.call('drive:acquire', { vehicleId })).ok, true);
  });
  after(async () => {
    for (const p of [vehicle, driver, watcher, callee?.peer]) p?.close();
    await s.close();
  });

  it('telemetry nested 6 000 deep is refused with an error; the vehicle stays connected and the server up', async () => {
    const since = vehicle.log.length;
    rawEmit(vehicle, 'telemetry', DeepJson.of(6000, 'object').text);
    const err = await errorAfter(vehicle, since, 'telemetry');
    assert.equal(err.code, 'invalid-payload');
    assert.match(err.message, /nests deeper than/);
    assert.equal(vehicle.socket.connected, true);
    assert.equal((await s.api('GET', '/api/health')).status, 200);
    vehicle.socket.emit('telemetry', { speed: 1 });
    await watcher.next('telemetry', (t) => t.speed === 1);
  });

  it('a deep payload with a binary attachment (which the Socket.IO parser walks recursively) costs only that connection', async () => {
    const v = await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'fuzz-binary' } });
    const peer = await connectPeer(s.url, { vehicleToken: v.body.token });
    const closed = new Promise<string>((resolve) => peer.socket.on('disconnect', (reason) => resolve(reason)));
    const engine = peer.socket.io.engine as unknown as { write(d: string | Buffer): void };
    engine.write(`51-/relay,["telemetry",${DeepJson.of(200_000, 'array').text.replace('1', '{"_placeholder":true,"num":0}')}]`);
    engine.write(Buffer.from([1, 2, 3]));
    assert.match(await closed, /transport close|io server disconnect|parse error/);
    assert.equal((await s.api('GET', '/api/health')).status, 200, 'the server is up');
    assert.equal(vehicle.socket.connected, true, 'other connections are untouched');
  });

  it('property: every event of the protocol, from users and vehicles, with hostile payloads — the server stays up, nothing invalid is forwarded, every ack arrives', { timeout: 300_000 }, async (t) => {
    const templates: Record<string, Record<string, unknown>> = {
      watch: { vehicleId, codecs: ['h264', 'jpeg'] },
      unwatch: { vehicleId },
      'drive:acquire': { vehicleId },
      'drive:release': { vehicleId },
      control: { vehicleId, seq: 1, throttle: 0.5, steer: 0, sentAt: Date.now() },
      estop: { vehicleId },
      'estop:clear': { vehicleId },
      'frame:ack': { vehicleId, seq: 1 },
      auth: { token: 'x.y.z' },
      frame: { seq: 1, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' },
      telemetry: { speed: 1, heading: 90 },
      'control:ack': { seq: 1 },
      'video:caps': { codecs: ['h264', 'jpeg'], jpegOnRequest: true },
      clock: { t0: 1 },
      'call:invite': { to: callee.id },
      'call:accept': { callId: randomUUID() },
      'call:decline': { callId: randomUUID() },
      'call:signal': { callId: randomUUID(), candidate: { candidate: 'c' } },
      'call:hangup': { callId: randomUUID() },
      'dashboard:watch': {},
      'dashboard:unwatch': {},
    };
    assert.deepEqual(Object.keys(templates).sort(), Object.keys(INBOUND_EVENTS).sort(), 'every inbound event is fuzzed');

    // What reaches the vehicle and the watchers must be valid, whatever was sent.
    const badForwards: string[] = [];
    vehicle.socket.on('control', (c: unknown) => {
      const ok = ControlSchema.omit({ vehicleId: true, sentAt: true }).safeParse(c).success;
      if (!ok) badForwards.push(`control ${JSON.stringify(c).slice(0, 100)}`);
    });
    watcher.socket.on('telemetry', (tel: Record<string, unknown>) => {
      const { vehicleId: _, receivedAt: __, ...rest } = tel;
      if (!TelemetrySchema.safeParse(rest).success || JSON.stringify(rest).length > RELAY_LIMITS.telemetryMaxBytes) badForwards.push(`telemetry ${JSON.stringify(tel).slice(0, 100)}`);
    });
    watcher.socket.on('frame', (meta: Record<string, unknown>, bytes: Buffer) => {
      const { vehicleId: _, relayedAt: __, ...rest } = meta;
      const b = Buffer.from(bytes);
      const okBytes = meta.codec === 'jpeg' ? b[0] === 0xff && b[1] === 0xd8 : b.length > 4 && b.readUInt32BE(0) + 4 <= b.length;
      if (!FrameMetaSchema.safeParse(rest).success || !okBytes) badForwards.push(`frame ${JSON.stringify(meta).slice(0, 100)}`);
      watcher.socket.emit('frame:ack', { vehicleId, seq: meta.seq });
    });
    callee.peer.socket.on('call:signal', (sig: unknown) => badForwards.push(`signal to a non-party ${JSON.stringify(sig).slice(0, 100)}`));

    let cases = 0;
    const acks = { ok: 0, refused: 0 };
    for (const [event, template] of Object.entries(templates)) {
      for (const who of ['user', 'vehicle'] as Sender[]) {
        const peer = who === 'vehicle' ? vehicle : driver;
        await fc.assert(
          fc.asyncProperty(hostile(template), fc.boolean(), async (payload, withBinary) => {
            cases++;
            if (payload instanceof DeepJson) {
              // Too deep for any encoder: sent raw, and the sender is answered with an error event.
              const since = peer.log.length;
              rawEmit(peer, event, payload.text);
              const err = await errorAfter(peer, since, event);
              const allowed = event in INBOUND_EVENTS && (INBOUND_EVENTS[event].from === who || INBOUND_EVENTS[event].from === 'any');
              assert.equal(err.code, allowed ? 'invalid-payload' : 'forbidden');
              acks.refused++;
              return;
            }
            const args = event === 'frame' || withBinary ? [payload, withBinary ? fakeJpeg(cases & 0xff, 256) : Buffer.from('not a jpeg')] : [payload];
            const ack = await peer.socket.timeout(10_000).emitWithAck(event, ...args);
            assert.equal(typeof ack?.ok, 'boolean', `${event} from a ${who}: an ack arrives`);
            if (ack.ok) acks.ok++;
            else {
              acks.refused++;
              assert.equal(typeof ack.error.code, 'string');
            }
            assert.equal(peer.socket.connected, true, `${event} from a ${who}: still connected`);
          }),
          { numRuns: 60, seed: 0x5eed + cases, includeErrorInReport: true },
        );
      }
    }
    // Event names that are not strings, and unknown ones.
    for (const name of [42, 'x'.repeat(10_000), '__proto__', 'constructor', 'toString']) {
      const ack = await driver.socket.timeout(10_000).emitWithAck(name as string, {});
      assert.equal(ack.ok, false);
      assert.equal(ack.error.code, 'unknown-event');
      assert.ok(ack.error.event.length <= 64);
      cases++;
    }
    assert.equal((await s.api('GET', '/api/health')).status, 200, 'the server is up');
    for (const p of [vehicle, driver, watcher, callee.peer]) assert.equal(p.socket.connected, true);
    assert.deepEqual(badForwards, [], 'nothing invalid was forwarded');
    t.diagnostic(`socket fuzz: ${cases} hostile messages over ${Object.keys(templates).length} events × 2 senders; ${acks.ok} accepted, ${acks.refused} refused with an error; 0 crashes, 0 invalid forwards`);
  });

  it('property: hostile binary frame acks (raw Engine.IO messages outside any packet) are refused with an error or taken; nothing closes', { timeout: 120_000 }, async (t) => {
    const tagged = fc.oneof(
      // Right length, any content: a seq that is not a whole number from 0 is refused, the rest is taken.
      fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.oneof(fc.double(), fc.constantFrom(NaN, -1, 2 ** 53, 0.5, 7))).map(([id, seq]) => {
        const b = Buffer.alloc(BINARY_FRAME_ACK.bytes);
        b[0] = BINARY_FRAME_ACK.tag;
        Buffer.from(id).copy(b, 1);
        b.writeDoubleBE(seq, 17);
        return b;
      }),
      // Wrong length.
      fc.uint8Array({ maxLength: 200 }).filter((x) => x.length + 1 !== BINARY_FRAME_ACK.bytes).map((x) => Buffer.concat([Buffer.from([BINARY_FRAME_ACK.tag]), Buffer.from(x)])),
    );
    let refused = 0;
    let taken = 0;
    for (const peer of [driver, vehicle]) {
      const engine = peer.socket.io.engine as unknown as { write(d: Buffer): void };
      await fc.assert(
        fc.asyncProperty(tagged, async (bytes) => {
          const decoded = decodeFrameAck(bytes);
          const since = peer.log.length;
          engine.write(bytes);
          if (!decoded.ok || peer === vehicle) {
            const err = await errorAfter(peer, since, 'frame:ack');
            assert.equal(err.code, peer === vehicle ? 'forbidden' : 'invalid-payload');
            refused++;
          } else {
            // Taken: nothing to answer. A call after it proves the message was read and the connection is up.
            assert.equal((await peer.call('clock', { t0: 1 })).ok, true);
            assert.equal(peer.log.slice(since).some((e) => e.event === 'error'), false);
            taken++;
          }
          assert.equal(peer.socket.connected, true);
        }),
        { numRuns: 80, seed: 0xac7, includeErrorInReport: true },
      );
    }
    // The watcher's real acks in binary form return its credit like the event does (its window stays open).
    assert.equal((await s.api('GET', '/api/health')).status, 200);
    t.diagnostic(`binary frame acks: ${refused} refused with an error, ${taken} taken; no connection closed`);
  });

  it('property: hostile binary frames (raw Engine.IO messages outside any packet) are refused with an error or relayed; nothing closes', { timeout: 120_000 }, async (t) => {
    const template = { seq: 1, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' };
    const metaJson = hostile(template).map((v) => Buffer.from(v instanceof DeepJson ? v.text : (JSON.stringify(v) ?? 'null')));
    const framed = fc.tuple(metaJson, fc.oneof(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), fc.constant(fakeJpeg(3, 256)))).map(([meta, bytes]) =>
      // The length field is 16 bits: a longer meta says a wrong length, which must be refused too.
      Buffer.concat([Buffer.from([BINARY_FRAME.tag, (meta.length >> 8) & 0xff, meta.length & 0xff]), meta, bytes]),
    );
    const garbage = fc.uint8Array({ maxLength: 300 }).map((x) => Buffer.concat([Buffer.from([BINARY_FRAME.tag]), Buffer.from(x)]));
    let refused = 0;
    let relayed = 0;
    for (const peer of [driver, vehicle]) {
      const engine = peer.socket.io.engine as unknown as { write(d: Buffer): void };
      await fc.assert(
        fc.asyncProperty(fc.oneof(framed, garbage), async (bytes) => {
          const expected = parseBinaryFrame(bytes, peer === vehicle ? 'vehicle' : 'user');
          const since = peer.log.length;
          engine.write(bytes);
          if (!expected.ok) {
            assert.equal((await errorAfter(peer, since, 'frame')).code, expected.code);
            refused++;
          } else {
            // Valid meta: relayed, or refused for bytes that are not the codec's (the handler's own check).
            assert.equal((await peer.call('clock', { t0: 1 })).ok, true);
            const errors = peer.log.slice(since).filter((e) => e.event === 'error');
            for (const e of errors) assert.match(e.args[0].message, /second argument/);
            if (errors.length) refused++;
            else relayed++;
          }
          assert.equal(peer.socket.connected, true);
        }),
        { numRuns: 100, seed: 0xf4a, includeErrorInReport: true },
      );
    }
    assert.equal((await s.api('GET', '/api/health')).status, 200);
    assert.ok(relayed > 0 && refused > 0, `both outcomes were exercised (${relayed} relayed, ${refused} refused)`);
    t.diagnostic(`binary frames: ${refused} refused with an error, ${relayed} relayed; no connection closed`);
  });

  it('property: hostile JSON bodies on every write route answer 2xx or 4xx, never 500', { timeout: 300_000 }, async (t) => {
    const me = await s.login('fuzz.driver@example.com', 'password-123');
    const routes: [string, string, Record<string, unknown>][] = [
      ['POST', '/api/auth/signup', { email: 'new@example.com', password: 'password-123', name: 'New' }],
      ['POST', '/api/auth/login', { email: 'fuzz.driver@example.com', password: 'password-123' }],
      ['POST', '/api/auth/refresh', { refreshToken: me.refreshToken }],
      ['POST', '/api/users', { email: 'made@example.com', password: 'password-123', role: 'user' }],
      ['PUT', `/api/users/${me.user.id}`, { name: 'Renamed', disabled: false }],
      ['POST', '/api/vehicles', { name: 'fuzz-vehicle' }],
      ['PUT', '/api/server/maintenance', { enabled: false, message: 'later' }],
      ['POST', '/api/users/me/tokens', { name: 'fuzz script', expiresInDays: 7, scopes: ['read', 'vehicles:manage'] }],
      ['PUT', `/api/vehicles/${vehicleId}/recording`, { enabled: false }],
    ];
    let cases = 0;
    const statuses = new Map<number, number>();
    for (const [method, path, template] of routes) {
      await fc.assert(
        fc.asyncProperty(hostile(template), async (payload) => {
          cases++;
          const raw = payload instanceof DeepJson ? payload.text : (JSON.stringify(payload) ?? 'null');
          const res = await s.api(method, path, { token: admin, raw, headers: { 'content-type': 'application/json', 'x-forwarded-for': `10.0.${cases >> 8}.${cases & 0xff}` } });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          assert.ok(res.status < 500, `${method} ${path} ${raw.slice(0, 120)} → ${res.status} ${JSON.stringify(res.body)}`);
          if (res.status >= 400) assert.equal(typeof res.body.message, 'string');
        }),
        { numRuns: 60, seed: 0xbad + cases, includeErrorInReport: true },
      );
    }
    // The maintenance switch may have been flipped by a valid payload: open the server again.
    await s.api('PUT', '/api/server/maintenance', { token: admin, body: { enabled: false } });
    assert.equal((await s.api('GET', '/api/health')).status, 200);
    t.diagnostic(`http fuzz: ${cases} hostile bodies over ${routes.length} routes; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
