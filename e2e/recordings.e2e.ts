import AxeBuilder from '@axe-core/playwright';
import { McapIndexedReader } from '@mcap/core';
import { expect, test, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { RECORDING_TOPICS } from '../backend/src/protocol/index.js';
import { admin, base } from './session.js';


/** Milliseconds from the player's `m:ss.mmm`. */
const msOf = (clock: string) => {
  const found = /(\d+):(\d\d)\.(\d{3})/.exec(clock);
  if (!found) return NaN;
  const [, m, s, ms] = found;
  return Number(m) * 60000 + Number(s) * 1000 + Number(ms);
};
const textOf = async (page: Page, label: string) => (await page.getByLabel(label, { exact: true }).textContent())!.trim();

/** What the file says of the moment `t` (ms into it): the last frame and the last control sent at or before it. */
async function momentIn(bytes: Buffer, kind: string) {
  const reader = await McapIndexedReader.Initialize({ readable: { size: async () => BigInt(bytes.length), read: async (o, n) => bytes.subarray(Number(o), Number(o + n)) } });
  const start = reader.statistics!.messageStartTime;
  const topics = new Map([...reader.channelsById].map(([id, c]) => [id, c.topic]));
  const all: { t: number; topic: string; body: Record<string, unknown> }[] = [];
  for await (const m of reader.readMessages()) all.push({ t: Math.floor(Number((m.logTime - start) / 1000n) / 1000), topic: topics.get(m.channelId)!, body: JSON.parse(Buffer.from(m.data).toString()) });
  const event = all.find((m) => m.topic === RECORDING_TOPICS.events && m.body.kind === kind)!;
  const before = (topic: string) => all.filter((m) => m.topic === topic && m.t <= event.t).at(-1)!;
  return { t: event.t, frame: before(RECORDING_TOPICS.video).t, sent: before(RECORDING_TOPICS.controlReceived).body as { throttle: number; steer: number } };
}

test('recordings: a drive of demo-rover with recording on is listed, downloads as an MCAP file and replays in the browser', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: base(), acceptDownloads: true });
  const page = await context.newPage();
  // Recording on for demo-rover, through the API as a script would.
  const login = await (await fetch(base() + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(admin()) })).json();
  const auth = { authorization: `Bearer ${login.accessToken}` };
  const rover = (await (await fetch(base() + '/api/vehicles', { headers: auth })).json()).find((v: { name: string }) => v.name === 'demo-rover');
  const on = await fetch(`${base()}/api/vehicles/${rover.id}/recording`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ enabled: true }) });
  expect(on.status).toBe(200);

  await page.goto(base() + '/login');
  await page.getByLabel('Email').fill(admin().email);
  await page.getByLabel('Password').fill(admin().password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('option', { name: 'demo-rover' }).click();
  await expect(page.getByLabel('Video stats')).toContainText(/[1-9]\d* fps/);
  await page.getByRole('button', { name: 'Take control' }).click();
  await expect(page.getByRole('button', { name: 'Release control' })).toBeVisible();
  // A drive with a moment to find again: W held, E-STOP, cleared, W released.
  await page.keyboard.down('w');
  await page.waitForTimeout(1500);
  await page.getByRole('button', { name: 'E-STOP' }).click();
  await expect(page.getByText('E-STOP latched', { exact: true })).toBeVisible();
  await page.waitForTimeout(1000);
  await page.getByRole('button', { name: 'Clear E-STOP' }).click();
  await page.waitForTimeout(1000);
  await page.keyboard.up('w');
  await page.waitForTimeout(500);
  await page.getByRole('button', { name: 'Release control' }).click();

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Recordings' }).click();
  const row = page.getByRole('table', { name: 'Recordings' }).getByRole('row').filter({ hasText: 'demo-rover' }).first();
  await expect(row).toContainText('released');
  await page.screenshot({ path: 'e2e/artifacts/recordings.png', fullPage: true });
  const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: /^Download the recording of demo-rover/ }).click()]);
  expect(download.suggestedFilename()).toMatch(/^demo-rover-.*\.mcap$/);
  const bytes = readFileSync((await download.path())!);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x4d, 0x43, 0x41, 0x50, 0x30, 0x0d, 0x0a]);
  expect(bytes.length).toBeGreaterThan(10_000);

  // The player: index first, then the timeline; the E-STOP marker brings the frame and the controls of that moment.
  const expected = await momentIn(bytes, 'estop');
  const reads: (string | undefined)[] = [];
  page.on('request', (r) => r.url().endsWith('/file') && reads.push(r.headers()['range']));
  await row.getByRole('link', { name: /^Replay the recording of demo-rover/ }).click();
  await expect(page).toHaveURL(/\/recordings\/[0-9a-f-]{36}$/);
  await expect(page.getByLabel('Position', { exact: true })).toContainText('0:00.000 / ');
  // The file opens with the key frame before the drive began: the first picture decodes.
  await expect(page.getByLabel('Frame shown', { exact: true })).toHaveText('0:00.000');
  // By byte ranges only, in blocks of at most 1 MiB (its size first, then what the reader asks for).
  expect(reads.length).toBeGreaterThanOrEqual(2);
  expect(reads.filter((r) => !/^bytes=\d+-\d+$/.test(r ?? '')), 'every read is a byte range').toEqual([]);
  expect(reads.map((r) => r!.split(/[=-]/).map(Number)).filter(([, a, b]) => b - a + 1 > 1024 * 1024), 'no read over 1 MiB').toEqual([]);
  const marker = page.getByRole('navigation', { name: 'Events' }).getByRole('button', { name: /E-STOP$/ });
  await expect(marker).toHaveCount(1);
  expect(msOf((await marker.textContent())!)).toBe(expected.t);
  await marker.click();
  await expect.poll(async () => msOf(await textOf(page, 'Position'))).toBe(expected.t);
  await expect.poll(async () => msOf(await textOf(page, 'Frame shown')), { message: 'the frame of that moment' }).toBe(expected.frame);
  expect(await textOf(page, 'Sent by the driver')).toBe(`throttle ${expected.sent.throttle.toFixed(2)} · steer ${expected.sent.steer.toFixed(2)}`);
  expect(expected.sent.throttle, 'W was held when E-STOP was pressed').toBeGreaterThan(0);
  await expect(page.getByLabel('Last event', { exact: true })).toContainText('E-STOP');
  const screen = page.getByRole('img', { name: 'Recorded video' });
  const colours = await screen.evaluate((c: HTMLCanvasElement) => {
    const { data } = c.getContext('2d')!.getImageData(0, 0, c.width, c.height);
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
  expect(colours, 'a picture, not a blank canvas').toBeGreaterThan(20);
  await page.screenshot({ path: 'e2e/artifacts/recording-player.png', fullPage: true });
  // The player holds to the same accessibility rules as every page, light and dark.
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
    expect(r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), `player, ${colorScheme}`).toEqual([]);
  }
  await page.emulateMedia({ colorScheme: null });
  // Play at 2×: the cursor and the picture move on from the marker.
  await page.getByRole('radio', { name: '2×' }).click();
  const frameAtMarker = await textOf(page, 'Frame shown');
  await page.getByRole('button', { name: 'Play' }).click();
  await expect.poll(async () => msOf(await textOf(page, 'Position'))).toBeGreaterThan(expected.t + 500);
  await expect.poll(() => textOf(page, 'Frame shown')).not.toBe(frameAtMarker);
  await page.getByRole('button', { name: 'Pause' }).click();
  const playerUrl = page.url();

  // The driver's session in the connection log links to the same recording.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connections' }).click();
  const replay = page.getByRole('table', { name: 'Connection history' }).getByRole('link', { name: /^Replay the drive of demo-rover/ }).first();
  await replay.click();
  await expect(page).toHaveURL(playerUrl);
  await expect(page.getByLabel('Frame shown', { exact: true })).toHaveText('0:00.000');

  await fetch(`${base()}/api/vehicles/${rover.id}/recording`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ enabled: false }) });
  await context.close();
});
