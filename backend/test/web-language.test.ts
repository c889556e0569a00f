import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { WEB_ROOT } from '../src/config/paths.js';
import { chooseLanguage } from '../src/http/web-language.js';
import { startServer, type TestServer } from './helpers/server.js';

describe('web app language: choosing', () => {
  it('takes the remembered choice first, then the browser’s preference, else English', () => {
    assert.equal(chooseLanguage('ko', 'en-US,en;q=0.9'), 'ko');
    assert.equal(chooseLanguage('en', 'ko-KR,ko;q=0.9'), 'en');
    assert.equal(chooseLanguage(undefined, 'ko-KR,ko;q=0.9,en-US;q=0.8'), 'ko');
    assert.equal(chooseLanguage(undefined, 'en-US,en;q=0.9,ko;q=0.8'), 'en');
    assert.equal(chooseLanguage(undefined, 'fr-FR,ko;q=0.5'), 'ko');
    assert.equal(chooseLanguage(undefined, 'ko;q=0,en;q=0.1'), 'en');
    assert.equal(chooseLanguage(undefined, 'de,fr'), 'en');
    assert.equal(chooseLanguage('xx', undefined), 'en');
  });
  it('never throws and always answers one of its languages, whatever the headers', () => {
    fc.assert(fc.property(fc.option(fc.string()), fc.option(fc.string({ maxLength: 2000 })), (c, a) => ['en', 'ko'].includes(chooseLanguage(c ?? undefined, a ?? undefined))));
  });
});

describe('web app language: serving', () => {
  let s: TestServer;
  const page = (path: string, headers: Record<string, string> = {}) => fetch(s.url + path, { redirect: 'manual', headers: { accept: 'text/html', ...headers } });
  before(async () => {
    assert.ok(existsSync(join(WEB_ROOT, 'ko', 'index.html')), 'the web app is built in both languages (npm run build:web)');
    s = await startServer();
  });
  after(() => s.close());

  it('sends a Korean browser to /ko/…, keeps the address’s path and query', async () => {
    const root = await page('/', { 'accept-language': 'ko-KR,ko;q=0.9' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ko/');
    const deep = await page('/drive?vehicle=1', { 'accept-language': 'ko' });
    assert.equal(deep.headers.get('location'), '/ko/drive?vehicle=1');
  });
  it('serves each build’s index under its path: lang and base href say which', async () => {
    const ko = await page('/ko/drive');
    assert.equal(ko.status, 200);
    const html = await ko.text();
    assert.match(html, /<html lang="ko"/);
    assert.match(html, /<base href="\/ko\/"/);
    const en = await page('/drive', { 'accept-language': 'en-US' });
    assert.equal(en.status, 200);
    assert.match(await en.text(), /<html lang="en"/);
  });
  it('the remembered choice wins over the browser', async () => {
    assert.equal((await page('/drive', { 'accept-language': 'ko', cookie: 'vicer_lang=en' })).status, 200);
    assert.equal((await page('/users', { cookie: 'vicer_lang=ko' })).headers.get('location'), '/ko/users');
  });
  it('leaves the API, sockets, files and non-browser clients alone', async () => {
    const api = await fetch(s.url + '/api/health', { redirect: 'manual', headers: { accept: 'text/html', 'accept-language': 'ko' } });
    assert.equal(api.status, 200);
    assert.equal((await fetch(s.url + '/favicon.svg', { redirect: 'manual', headers: { 'accept-language': 'ko' } })).status, 200);
    assert.equal((await fetch(s.url + '/ko/favicon.svg', { redirect: 'manual' })).status, 200);
    const json = await fetch(s.url + '/drive', { redirect: 'manual', headers: { accept: 'application/json', 'accept-language': 'ko' } });
    assert.equal(json.status, 404);
    assert.equal(((await json.json()) as { code: string }).code, 'not-found');
  });
});
