import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, ConfigError } from '../src/config/config.js';
import { ROOT } from '../src/config/paths.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type TestServer } from './helpers/server.js';
import { connectPeer, fakeJpeg, type Peer } from './helpers/sockets.js';

interface Family {
  name: string;
  type: string;
  samples: { name: string; labels: Record<string, string>; value: number | null }[];
}
type Families = Map<string, Family>;

/** Parsed by the Prometheus project's own parser (Debian's python3-prometheus-client), not by code of ours. */
function parse(text: string): Family[] {
  const r = spawnSync('/usr/bin/python3', [join(ROOT, 'backend/test/helpers/parse-metrics.py')], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `the Prometheus parser refused the exposition: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function scrape(s: TestServer, headers: Record<string, string> = {}): Promise<Families> {
  const res = await s.api('GET', '/metrics', { headers });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return new Map(parse(res.body as string).map((f) => [f.name, f]));
}

/** The value of the sample named `name` whose labels include `labels` (0 when there is none yet). */
function value(m: Families, name: string, labels: Record<string, string> = {}): number {
  for (const f of m.values()) {
    const s = f.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    if (s) return s.value ?? 0;
  }
  return 0;
}
/** A family is exposed (HELP and TYPE) even before a labelled counter has its first sample. */
const exposes = (m: Families, name: string) => m.has(name.replace(/_(total|bucket)$/, ''));

/** GET /metrics: Prometheus text format, vicer's counters moving with real traffic, and who may scrape. */
describe('metrics (Prometheus)', () => {
  let s: TestServer;
  const peers: Peer[] = [];
  before(async () => {
    s = await startServer();
  });
  after(async () => {
    peers.forEach((p) => p.close());
    await s.close();
  });

  it('exposes process and vicer metrics in the text format, and they move with a drive', async () => {
    const m0 = await scrape(s);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'vicer_sockets',
      'vicer_vehicles_online',
      'vicer_frames_in_total',
      'vicer_frames_out_total',
      'vicer_video_bytes_out_total',
      'vicer_frames_skipped_total',
      'vicer_frames_queued_total',
      'vicer_controls_in_total',
      'vicer_controls_forwarded_total',
      'vicer_controls_refused_total',
      'vicer_control_rtt_seconds_bucket',
      'vicer_http_request_duration_seconds_bucket',
      'vicer_auth_events_total',
    ])
      assert.ok(exposes(m0, name), `${name} is exposed`);
    assert.equal(m0.get('vicer_control_rtt_seconds')!.type, 'histogram');
    assert.equal(m0.get('vicer_frames_in')!.type, 'counter');

    assert.equal((await s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: 'wrong-password' } })).status, 401);
    const admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
    const v = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'metrics-rover' } })).body;
    const vehicle = await connectPeer(s.url, { vehicleToken: v.token });
    const driver = await connectPeer(s.url, { token: admin });
    const other = await connectPeer(s.url, { token: admin });
    peers.push(vehicle, driver, other);
    vehicle.socket.on('control', (c: { seq: number }) => vehicle.socket.emit('control:ack', { seq: c.seq }));
    driver.socket.on('frame', (meta: { seq: number }) => driver.socket.emit('frame:ack', { vehicleId: v.id, seq: meta.seq }));
    assert.equal((await driver.call('watch', { vehicleId: v.id })).ok, true);
    const jpeg = fakeJpeg(1, 5000);
    for (let i = 0; i < 3; i++) {
      vehicle.socket.emit('frame', { seq: i, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' }, jpeg);
      await driver.next('frame', (x) => x.seq === i);
    }
    assert.equal((await driver.call('drive:acquire', { vehicleId: v.id })).ok, true);
    for (let seq = 1; seq <= 4; seq++) driver.socket.emit('control', { vehicleId: v.id, seq, throttle: 0.2, steer: 0, sentAt: Date.now() });
    await driver.next('control:ack', (a) => a.seq === 4);
    other.socket.emit('control', { vehicleId: v.id, seq: 1, throttle: 1, steer: 0, sentAt: Date.now() });
    await other.next('error', (e) => e.code === 'not-driver');

    const m = await scrape(s);
    assert.equal(value(m, 'vicer_sockets', { kind: 'vehicle' }), 1);
    assert.equal(value(m, 'vicer_sockets', { kind: 'user' }), 2);
    assert.equal(value(m, 'vicer_vehicles_online'), 1);
    assert.equal(value(m, 'vicer_frames_in_total', { codec: 'jpeg' }), 3);
    assert.equal(value(m, 'vicer_frames_out_total', { codec: 'jpeg' }), 3);
    assert.equal(value(m, 'vicer_video_bytes_out_total', { codec: 'jpeg' }), 3 * jpeg.length);
    assert.equal(value(m, 'vicer_controls_in_total'), 5);
    assert.equal(value(m, 'vicer_controls_forwarded_total'), 4);
    assert.equal(value(m, 'vicer_controls_refused_total'), 1);
    assert.equal(value(m, 'vicer_control_rtt_seconds_count'), 4);
    assert.equal(value(m, 'vicer_control_rtt_seconds_bucket', { le: '+Inf' }), 4);
    assert.ok(value(m, 'vicer_control_rtt_seconds_sum') > 0);
    assert.equal(value(m, 'vicer_auth_events_total', { outcome: 'success' }), 1);
    assert.equal(value(m, 'vicer_auth_events_total', { outcome: 'bad-credentials' }), 1);
    // HTTP by route template (not the raw path, whose ids would grow the label set without bound) and status.
    assert.equal(value(m, 'vicer_http_request_duration_seconds_count', { method: 'POST', route: '/api/auth/login', status: '401' }), 1);
    assert.equal(value(m, 'vicer_http_request_duration_seconds_count', { method: 'POST', route: '/api/vehicles', status: '201' }), 1);
    assert.ok(value(m, 'vicer_http_request_duration_seconds_count', { method: 'GET', route: '/metrics', status: '200' }) >= 1);
    await s.api('GET', `/api/vehicles/${v.id}`, { token: admin });
    assert.equal(value(await scrape(s), 'vicer_http_request_duration_seconds_count', { method: 'GET', route: '/api/vehicles/:id', status: '200' }), 1);

    // A long-polling watcher's socket is never written to straight: its frames go through Engine.IO's queue.
    const queued0 = value(m, 'vicer_frames_queued_total');
    const polling = await connectPeer(s.url, { token: admin }, { transports: ['polling'] });
    peers.push(polling);
    polling.socket.on('frame', (meta: { seq: number }) => polling.socket.emit('frame:ack', { vehicleId: v.id, seq: meta.seq }));
    assert.equal((await polling.call('watch', { vehicleId: v.id })).ok, true);
    for (let i = 3; i < 6; i++) {
      vehicle.socket.emit('frame', { seq: i, capturedAt: Date.now(), width: 64, height: 48, codec: 'jpeg' }, jpeg);
      await polling.next('frame', (x) => x.seq === i);
    }
    assert.ok(value(await scrape(s), 'vicer_frames_queued_total') >= queued0 + 3);
  });

  it('without METRICS_TOKEN only this machine may scrape (the client address as the proxy settings resolve it)', async () => {
    const proxied = await startServer({ TRUST_PROXY: '1' });
    try {
      assert.equal((await proxied.api('GET', '/metrics')).status, 200);
      const res = await proxied.api('GET', '/metrics', { headers: { 'x-forwarded-for': '203.0.113.9' } });
      assert.equal(res.status, 403);
      assert.equal(res.body.statusCode, 403);
      assert.match(res.body.message, /METRICS_TOKEN/);
    } finally {
      await proxied.close();
    }
  });

  it('with METRICS_TOKEN the bearer token is required, from anywhere', async () => {
    const token = 'a-metrics-token-0123456789';
    const guarded = await startServer({ METRICS_TOKEN: token });
    try {
      assert.equal((await guarded.api('GET', '/metrics')).status, 401);
      assert.equal((await guarded.api('GET', '/metrics', { token: 'a-metrics-token-0123456780' })).status, 401);
      const admin = (await guarded.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
      assert.equal((await guarded.api('GET', '/metrics', { token: admin })).status, 401, 'a user token is not the metrics token');
      assert.ok(exposes(await scrape(guarded, { authorization: `Bearer ${token}` }), 'vicer_frames_in_total'));
    } finally {
      await guarded.close();
    }
  });

  it('the Grafana dashboard in docs/grafana queries only metrics the server exposes', async () => {
    const dash = JSON.parse(readFileSync(join(ROOT, 'docs/grafana/vicer.json'), 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] };
    const m = await scrape(s);
    const used = new Set(dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\b(?:vicer|process|nodejs)_[a-z0-9_]+/g) ?? [])));
    assert.ok(used.size >= 12, [...used].join(' '));
    for (const name of used) assert.ok(exposes(m, name.replace(/_(count|sum)$/, '')), `the dashboard's ${name} is exposed`);
  });

  it('refuses a METRICS_TOKEN too short to be a secret, naming the variable', () => {
    assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), (e: unknown) => e instanceof ConfigError && /METRICS_TOKEN: must be at least 16 characters/.test(e.message));
  });
});
