import { expect, test, type Browser, type Page } from '@playwright/test';
import { base, signIn } from './session.js';


async function user(browser: Browser, name: string): Promise<Page> {
  const email = `${name}@example.com`;
  await fetch(`${base()}/api/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'password-123', name }) });
  const page = await (await browser.newContext({ baseURL: base() })).newPage();
  await signIn(page, email, 'password-123');
  await page.getByRole('link', { name: 'Chat' }).click();
  await expect(page.getByRole('heading', { name: 'Online now' })).toBeVisible();
  return page;
}

/** The remote <video> plays: it has a picture size and its time advances. */
async function expectPlaying(page: Page): Promise<void> {
  const video = page.getByLabel('Remote video');
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 20_000 }).toBeGreaterThan(0);
  const t0 = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime)).toBeGreaterThan(t0);
}

test.describe.configure({ mode: 'serial' });

test('face chat: A calls B, B accepts, both videos play, mute toggles the track, A hangs up', async ({ browser }) => {
  const a = await user(browser, 'alba');
  const b = await user(browser, 'boris');
  await a.getByRole('button', { name: 'Call boris' }).click();
  const incoming = b.getByRole('dialog', { name: 'Incoming call' });
  await expect(incoming).toContainText('alba is calling you');
  await incoming.getByRole('button', { name: 'Accept' }).click();
  await expectPlaying(a);
  await expectPlaying(b);
  await expect(a.getByRole('heading', { name: 'In a call with boris' })).toBeVisible();
  await expect(a.getByLabel('Call time')).toHaveText(/00:0[1-9]|00:[1-5]\d/);
  await expect(a.getByLabel('Connection quality')).toContainText(/RTT \d+ ms/);
  await a.screenshot({ path: 'e2e/artifacts/chat-call.png' });

  const audioEnabled = () => a.getByLabel('Your video').evaluate((v: HTMLVideoElement) => (v.srcObject as MediaStream).getAudioTracks()[0].enabled);
  expect(await audioEnabled()).toBe(true);
  await a.getByRole('button', { name: 'Mute' }).click();
  expect(await audioEnabled()).toBe(false);
  await a.getByRole('button', { name: 'Unmute' }).click();
  expect(await audioEnabled()).toBe(true);

  await a.getByRole('button', { name: 'Hang up' }).click();
  await expect(a.getByRole('heading', { name: 'Online now' })).toBeVisible();
  await expect(b.getByRole('heading', { name: 'Online now' })).toBeVisible();
  await expect(b.getByRole('status')).toContainText('Call with alba ended');
  await a.context().close();
  await b.context().close();
});

test('face chat: a declined call and a busy callee show their messages', async ({ browser }) => {
  const a = await user(browser, 'alba');
  const b = await user(browser, 'boris');
  await a.getByRole('button', { name: 'Call boris' }).click();
  await b.getByRole('dialog', { name: 'Incoming call' }).getByRole('button', { name: 'Decline' }).click();
  await expect(a.getByRole('status')).toContainText('boris declined the call');

  await a.getByRole('button', { name: 'Call boris' }).click();
  await b.getByRole('dialog', { name: 'Incoming call' }).getByRole('button', { name: 'Accept' }).click();
  await expectPlaying(b);
  const c = await user(browser, 'carla');
  await expect(c.getByRole('button', { name: 'Call boris' })).toBeDisabled();
  await expect(c.getByRole('button', { name: 'Call alba' })).toBeDisabled();
  await expect(c.getByText('in a call')).toHaveCount(2);
  await b.getByRole('button', { name: 'Hang up' }).click();
  await expect(c.getByRole('button', { name: 'Call boris' })).toBeEnabled();
  for (const p of [a, b, c]) await p.context().close();
});
