import { RecordingsService } from '../src/recordings/recordings.service.js';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import formats from 'ajv-formats';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { connectPeer } from './helpers/sockets.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startServer, type ApiResponse, type TestServer } from './helpers/server.js';

/**
 * The OpenAPI document is complete and true: a validator accepts it, every pattern in it is a regex other languages
 * compile, and for every operation a real request answers what the document says (success and errors).
 */
describe('OpenAPI document (/api/docs-json)', () => {
  let s: TestServer;
  let doc: any;
  let admin: string;
  let user: { accessToken: string; refreshToken: string; user: { id: string } };
  let ajv: Ajv;

  before(async () => {
    s = await startServer();
    doc = (await s.api('GET', '/api/docs-json')).body;
    admin = (await s.login(ADMIN_EMAIL, ADMIN_PASSWORD)).accessToken;
    await s.api('POST', '/api/auth/signup', { body: { email: 'doc.user@example.com', password: 'password-123', name: 'Doc User' } });
    user = await s.login('doc.user@example.com', 'password-123');
    ajv = new Ajv({ strict: false, allErrors: true });
    (formats as unknown as { default: (a: Ajv) => void }).default(ajv);
    ajv.addSchema({ $id: 'api', components: doc.components });
  });
  after(() => s.close());

  it('is a valid OpenAPI 3.0 document (@seriousme/openapi-schema-validator)', async () => {
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    assert.equal(res.valid, true, JSON.stringify(res.errors, null, 1));
    assert.match(doc.openapi, /^3\.0\./);
  });

  it('every pattern is a regex that Python (openapi-spec-validator) and ECMAScript both compile', () => {
    const patterns = new Set<string>();
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === 'pattern' && typeof x === 'string') patterns.add(x);
          else walk(x);
        }
      }
    };
    walk(doc);
    assert.ok(patterns.size > 0);
    for (const p of patterns) new RegExp(p, 'u');
    const py = spawnSync('/usr/bin/python3', ['-c', 'import json,re,sys\nfor p in json.load(sys.stdin): re.compile(p)\nprint("ok")'], { input: JSON.stringify([...patterns]), encoding: 'utf8' });
    assert.equal(py.stdout.trim(), 'ok', py.stderr);
  });

  it('lists, for each operation, its errors with the one error schema, and request bodies closed to unknown fields', () => {
    let operations = 0;
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [verb, op] of Object.entries<any>(item)) {
        operations++;
        const codes = Object.keys(op.responses);
        assert.ok(codes.some((c) => c.startsWith('2')), `${verb} ${path} has a success answer`);
        if (op.security?.length) assert.ok(codes.includes('401'), `${verb} ${path} lists 401`);
        if (op.requestBody) {
          assert.ok(codes.includes('400') && codes.includes('415'), `${verb} ${path} lists 400 and 415`);
          const ref = op.requestBody.content['application/json'].schema.$ref.split('/').pop();
          assert.equal(doc.components.schemas[ref].additionalProperties, false, `${ref} refuses unknown fields`);
        }
        if (path !== '/api/health') {
          // A unit of database work that conflicted through every retry: 503 database-busy, with Retry-After.
          assert.ok(codes.includes('503') && op.responses['503'].headers?.['Retry-After'], `${verb} ${path} lists 503 with Retry-After`);
          assert.match(op.responses['503'].description, /database-busy/, `${verb} ${path}`);
        }
        for (const c of codes.filter((x) => Number(x) >= 400 && !(path === '/api/health' && x === '503'))) {
          assert.deepEqual(op.responses[c].content['application/json'].schema, { $ref: '#/components/schemas/Error' }, `${verb} ${path} ${c}`);
        }
      }
    }
    assert.ok(doc.paths['/api/health'].head, 'HEAD /api/health is documented');
    assert.ok(operations >= 25, `${operations} operations`);
    const create = doc.components.schemas.CreateUserRequest.properties;
    assert.equal(create.email.format, 'email');
    assert.equal(create.password.minLength, 8);
    assert.equal(create.password.maxLength, 128);
    const page = doc.paths['/api/connections'].get.parameters.find((p: any) => p.name === 'pageSize');
    assert.deepEqual([page.schema.type, page.schema.minimum, page.schema.maximum], ['integer', 1, 500]);
  });

  it('every route answers what the document says, for a real request (success and a refusal)', { timeout: 60_000 }, async (t) => {
    const vehicle = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'doc-rover' } })).body;
    const doomed = (await s.api('POST', '/api/vehicles', { token: admin, body: { name: 'doc-doomed' } })).body;
    const victim = (await s.api('POST', '/api/users', { token: admin, body: { email: 'doc.victim@example.com', password: 'password-123', role: 'user' } })).body;
    const peer = await connectPeer(s.url, { token: user.accessToken });
    // The peer's connection row is written as it connects, not before the socket says it is connected.
    const activeRow = async (): Promise<{ id: string }> => {
      for (;;) {
        const row = (await s.api('GET', '/api/connections?state=active', { token: admin })).body.items[0];
        if (row) return row;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const live = await activeRow();
    const fresh = await s.login('doc.user@example.com', 'password-123');
    const none = randomUUID();
    const mint = async () => (await s.api('POST', '/api/users/me/tokens', { token: user.accessToken, body: { name: 'doc token' } })).body.id as string;
    const [ownToken, anyToken] = [await mint(), await mint()];
    // One finished recording (the recorder driven directly: the relay's part has its own tests).
    const recorder = s.app.get(RecordingsService);
    await recorder.setEnabled(vehicle.id, true);
    recorder.driveStarted(vehicle.id, { userId: user.user.id, name: 'doc' });
    while (!recorder.recording(vehicle.id)) await new Promise((r) => setTimeout(r, 10));
    await recorder.driveEnded(vehicle.id, 'released');
    const recording = (await recorder.list({ page: 1, pageSize: 1 })).items[0].id;
    type Sample = { ok: () => Promise<ApiResponse>; refused?: () => Promise<ApiResponse> };
    const samples: Record<string, Sample> = {
      authSignup: { ok: () => s.api('POST', '/api/auth/signup', { body: { email: 'doc.new@example.com', password: 'password-123' } }), refused: () => s.api('POST', '/api/auth/signup', { body: { email: 'x' } }) },
      authLogin: { ok: () => s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: ADMIN_PASSWORD } }), refused: () => s.api('POST', '/api/auth/login', { body: { email: ADMIN_EMAIL, password: 'wrong-one' } }) },
      authRefresh: { ok: () => s.api('POST', '/api/auth/refresh', { body: { refreshToken: fresh.refreshToken } }), refused: () => s.api('POST', '/api/auth/refresh', { body: { refreshToken: 'nope' } }) },
      authLogout: { ok: () => s.api('POST', '/api/auth/logout', { token: fresh.accessToken }), refused: () => s.api('POST', '/api/auth/logout') },
      authLogoutEverywhere: { ok: async () => s.api('POST', '/api/auth/logout-everywhere', { token: (await s.login('doc.victim@example.com', 'password-123')).accessToken }), refused: () => s.api('POST', '/api/auth/logout-everywhere') },
      usersList: { ok: () => s.api('GET', '/api/users', { token: admin }), refused: () => s.api('GET', '/api/users') },
      usersMe: { ok: () => s.api('GET', '/api/users/me', { token: user.accessToken }), refused: () => s.api('GET', '/api/users/me', { token: 'garbage' }) },
      usersGet: { ok: () => s.api('GET', `/api/users/${user.user.id}`, { token: admin }), refused: () => s.api('GET', `/api/users/${none}`, { token: admin }) },
      usersCreate: { ok: () => s.api('POST', '/api/users', { token: admin, body: { email: 'doc.made@example.com', password: 'password-123', role: 'user' } }), refused: () => s.api('POST', '/api/users', { token: user.accessToken, body: { email: 'doc.no@example.com', password: 'password-123', role: 'user' } }) },
      usersUpdate: { ok: () => s.api('PUT', `/api/users/${user.user.id}`, { token: user.accessToken, body: { name: 'Doc Renamed' } }), refused: () => s.api('PUT', `/api/users/${user.user.id}`, { token: user.accessToken, body: { email: ADMIN_EMAIL } }) },
      usersRemove: { ok: () => s.api('DELETE', `/api/users/${victim.id}`, { token: admin }), refused: () => s.api('DELETE', `/api/users/${victim.id}`, { token: admin }) },
      apiTokensCreate: { ok: () => s.api('POST', '/api/users/me/tokens', { token: user.accessToken, body: { name: 'doc script', expiresInDays: 7 } }), refused: () => s.api('POST', '/api/users/me/tokens', { token: user.accessToken, body: { name: '' } }) },
      apiTokensListOwn: { ok: () => s.api('GET', '/api/users/me/tokens', { token: user.accessToken }), refused: () => s.api('GET', '/api/users/me/tokens') },
      apiTokensRevokeOwn: { ok: () => s.api('DELETE', `/api/users/me/tokens/${ownToken}`, { token: user.accessToken }), refused: () => s.api('DELETE', `/api/users/me/tokens/${ownToken}`, { token: user.accessToken }) },
      apiTokensListAll: { ok: () => s.api('GET', '/api/tokens', { token: admin }), refused: () => s.api('GET', '/api/tokens', { token: user.accessToken }) },
      apiTokensRevokeAny: { ok: () => s.api('DELETE', `/api/tokens/${anyToken}`, { token: admin }), refused: () => s.api('DELETE', `/api/tokens/${anyToken}`, { token: user.accessToken }) },
      recordingsList: { ok: () => s.api('GET', '/api/recordings?pageSize=5', { token: admin }), refused: () => s.api('GET', '/api/recordings', { token: user.accessToken }) },
      recordingsGet: { ok: () => s.api('GET', `/api/recordings/${recording}`, { token: admin }), refused: () => s.api('GET', `/api/recordings/${none}`, { token: admin }) },
      recordingsFile: { ok: () => s.api('GET', `/api/recordings/${recording}/file`, { token: admin }), refused: () => s.api('GET', `/api/recordings/${recording}/file`, { token: admin, headers: { range: 'bytes=999999999-' } }) },
      recordingsSetRecording: { ok: () => s.api('PUT', `/api/vehicles/${vehicle.id}/recording`, { token: admin, body: { enabled: false } }), refused: () => s.api('PUT', `/api/vehicles/${none}/recording`, { token: admin, body: { enabled: true } }) },
      recordingsRemove: { ok: () => s.api('DELETE', `/api/recordings/${recording}`, { token: admin }), refused: () => s.api('DELETE', `/api/recordings/${recording}`, { token: admin }) },
      healthHealth: { ok: () => s.api('GET', '/api/health') },
      healthHealthHead: { ok: () => s.api('HEAD', '/api/health') },
      connectionsList: { ok: () => s.api('GET', '/api/connections?pageSize=5', { token: admin }), refused: () => s.api('GET', '/api/connections?pageSize=501', { token: admin }) },
      connectionsExport: { ok: () => s.api('GET', '/api/connections/export.csv', { token: admin }), refused: () => s.api('GET', '/api/connections/export.csv', { token: user.accessToken }) },
      connectionsKick: { ok: () => s.api('DELETE', `/api/connections/${live.id}`, { token: admin }), refused: () => s.api('DELETE', `/api/connections/${none}`, { token: admin }) },
      connectionsAuthEvents: { ok: () => s.api('GET', '/api/auth-events?outcome=success', { token: admin }), refused: () => s.api('GET', '/api/auth-events?outcome=maybe', { token: admin }) },
      connectionsExportAuthEvents: { ok: () => s.api('GET', '/api/auth-events/export.csv', { token: admin }) },
      rtcRtcConfig: { ok: () => s.api('GET', '/api/rtc/config', { token: user.accessToken }), refused: () => s.api('GET', '/api/rtc/config') },
      rtcList: { ok: () => s.api('GET', '/api/calls', { token: admin }), refused: () => s.api('GET', '/api/calls?page=0', { token: admin }) },
      vehiclesList: { ok: () => s.api('GET', '/api/vehicles', { token: user.accessToken }) },
      vehiclesGet: { ok: () => s.api('GET', `/api/vehicles/${vehicle.id}`, { token: user.accessToken }), refused: () => s.api('GET', `/api/vehicles/${none}`, { token: user.accessToken }) },
      vehiclesCreate: { ok: () => s.api('POST', '/api/vehicles', { token: admin, body: { name: 'doc-new' } }), refused: () => s.api('POST', '/api/vehicles', { token: admin, body: { name: 'doc-rover' } }) },
      vehiclesRotate: { ok: () => s.api('POST', `/api/vehicles/${vehicle.id}/token`, { token: admin }), refused: () => s.api('POST', `/api/vehicles/${vehicle.id}/token`, { token: user.accessToken }) },
      vehiclesStats: { ok: () => s.api('GET', `/api/vehicles/${vehicle.id}/stats`, { token: admin }), refused: () => s.api('GET', '/api/vehicles/nope/stats', { token: admin }) },
      vehiclesRemove: { ok: () => s.api('DELETE', `/api/vehicles/${doomed.id}`, { token: admin }), refused: () => s.api('DELETE', `/api/vehicles/${doomed.id}`, { token: admin }) },
      serverGet: { ok: () => s.api('GET', '/api/server/maintenance', { token: admin }), refused: () => s.api('GET', '/api/server/maintenance', { token: user.accessToken }) },
      serverSet: { ok: () => s.api('PUT', '/api/server/maintenance', { token: admin, body: { enabled: false } }), refused: () => s.api('PUT', '/api/server/maintenance', { token: admin, body: { enabled: 'no' } }) },
    };
    const checked: string[] = [];
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [verb, op] of Object.entries<any>(item)) {
        const sample = samples[op.operationId];
        assert.ok(sample, `a sample request for ${op.operationId} (${verb.toUpperCase()} ${path})`);
        for (const run of [sample.ok, sample.refused].filter(Boolean) as (() => Promise<ApiResponse>)[]) {
          const res = await run();
          checked.push(`${op.operationId} ${res.status}`);
          const documented = op.responses[String(res.status)];
          assert.ok(documented, `${op.operationId}: status ${res.status} is documented (${JSON.stringify(res.body).slice(0, 200)})`);
          const content = documented.content;
          if (!content) {
            assert.equal(res.body, '', `${op.operationId} ${res.status} has no body`);
            continue;
          }
          const [type, { schema }] = Object.entries<any>(content)[0];
          assert.ok((res.headers.get('content-type') ?? '').startsWith(type), `${op.operationId} ${res.status} is ${type}`);
          if (type !== 'application/json') continue;
          const validate = ajv.compile(schema.$ref ? { $ref: `api${schema.$ref}` } : schema);
          assert.ok(validate(res.body), `${op.operationId} ${res.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(res.body).slice(0, 300)}`);
        }
      }
    }
    peer.close();
    t.diagnostic(`openapi: ${checked.length} real answers, ${Object.keys(samples).length} operations, each matched its documented status and schema`);
    assert.equal(new Set(checked.map((c) => c.split(' ')[0])).size, Object.keys(samples).length, 'every sample ran');
  });
});
