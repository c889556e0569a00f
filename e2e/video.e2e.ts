import { expect, test, type Browser, type Page } from '@playwright/test';
import { BINARY_FRAME_ACK, RELAY_LIMITS } from '../backend/src/protocol/index.js';
import { admin, base, signIn } from './session.js';

const shot = (page: Page, name: string) => page.screenshot({ path: `e2e/artifacts/${name}.png`, fullPage: true });
const speed = async (page: Page) => Number((await page.getByLabel('Speed').textContent())?.replace(/[^\d.-]/g, ''));

/** The relay socket's traffic, held back inside the page (no proxy, no added latency): frames in, frame acks out. */
interface Tap {
  /** Frames wait in the page (a stalled network), then arrive all at once. */
  holdFrames(on: boolean): Promise<void>;
  holdAcks(on: boolean): Promise<void>;
  /** Frames that reached the page so far. */
  framesIn(): Promise<number>;
}

/** Runs in the page before its scripts: wraps WebSocket so that the test can drop frames and hold acks. */
function installTap(ack: { tag: number; bytes: number }): void {
  const w = window as unknown as { __tap: { holdFrames: boolean; holdAcks: boolean; held: (() => void)[]; frames: (() => void)[]; count: number } };
  w.__tap = { holdFrames: false, holdAcks: false, held: [], frames: [], count: 0 };
  const Native = window.WebSocket;
  class Tapped extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      const setter = Object.getOwnPropertyDescriptor(Native.prototype, 'onmessage')!.set!;
      // Whether the frame whose header came last is held: its attachment must share the header's fate, or the
      // socket.io parser, waiting for the attachment, would get the next text message and drop the connection.
      let attachmentHeld: boolean | null = null;
      Object.defineProperty(this, 'onmessage', {
        set(handler: (e: MessageEvent) => void) {
          setter.call(this, (e: MessageEvent) => {
            // A frame is a binary event: its text header, then the image or access unit as a binary message. While
            // held, frames wait in order, as on a stalled video path; telemetry and acks still come through.
            const header = typeof e.data === 'string' && e.data.startsWith('451-/relay,["frame"');
            let held = false;
            if (header) {
              w.__tap.count++;
              held = attachmentHeld = w.__tap.holdFrames || w.__tap.frames.length > 0;
            } else if (typeof e.data !== 'string' && attachmentHeld !== null) {
              held = attachmentHeld;
              attachmentHeld = null;
            }
            if (held) return void w.__tap.frames.push(() => handler(e));
            handler(e);
          });
        },
      });
    }
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      // Frame acks go as binary messages of their own (BINARY_FRAME_ACK), or as `frame:ack` events.
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : null;
      const isAck = (typeof data === 'string' && data.startsWith('42/relay,["frame:ack"')) || (bytes?.length === ack.bytes && bytes[0] === ack.tag);
      if (isAck && w.__tap.holdAcks) {
        w.__tap.held.push(() => super.send(data));
        return;
      }
      super.send(data);
    }
  }
  window.WebSocket = Tapped as typeof WebSocket;
}

function tapOf(page: Page): Tap {
  return {
    holdFrames: (on) =>
      page.evaluate((v) => {
        const t = (window as any).__tap;
        t.holdFrames = v;
        if (!v) while (t.frames.length) t.frames.shift()();
      }, on),
    holdAcks: (on) =>
      page.evaluate((v) => {
        const t = (window as any).__tap;
        t.holdAcks = v;
        if (!v) for (const send of t.held.splice(0)) send();
      }, on),
    framesIn: () => page.evaluate(() => (window as any).__tap.count as number),
  };
}

/** A signed-in page; the tap, when asked for, is in place before the relay socket opens. */
async function signedIn(browser: Browser, opts: { init?: () => void; tap?: boolean } = {}): Promise<{ page: Page; t: Tap }> {
  const page = await (await browser.newContext({ baseURL: base() })).newPage();
  if (opts.init) await page.addInitScript(opts.init);
  if (opts.tap) await page.addInitScript(installTap, { tag: BINARY_FRAME_ACK.tag, bytes: BINARY_FRAME_ACK.bytes });
  const t = tapOf(page);
  await signIn(page);
  return { page, t };
}

/** A bearer token for the admin and demo-rover's id, for reading the relay's counters. */
async function adminApi(): Promise<{ auth: Record<string, string>; roverId: string }> {
  const login = await (await fetch(base() + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(admin()) })).json();
  const auth = { authorization: `Bearer ${login.accessToken}` };
  const rover = (await (await fetch(base() + '/api/vehicles', { headers: auth })).json()).find((v: { name: string }) => v.name === 'demo-rover');
  return { auth, roverId: rover.id };
}

const pixels = (page: Page) => page.getByRole('img', { name: 'Live video' }).evaluate((c: HTMLCanvasElement) => c.toDataURL('image/png'));

test.describe.configure({ mode: 'serial' });

test('H.264 through WebCodecs: the overlay says so, the picture moves, nothing is dropped', async ({ browser }) => {
  const { page } = await signedIn(browser);
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.getByRole('option', { name: 'demo-rover' }).click();
  const stats = page.getByLabel('Video stats');
  await expect(stats).toContainText('H.264');
  await expect(stats).toContainText(/[1-9]\d* fps · [1-9]\d* kb\/s · \d+ ms · 0 dropped/);
  const first = await pixels(page);
  await expect.poll(() => pixels(page), { message: 'the picture changes' }).not.toBe(first);
  await shot(page, 'drive-h264');
  expect(errors.filter((e) => /decode|VideoDecoder|EncodedVideoChunk/i.test(e))).toEqual([]);
  await page.context().close();
});

test('a watcher that stalls (its acks held back) resumes from a key frame: no decode error, nothing dropped', async ({ browser }) => {
  const { page, t } = await signedIn(browser, { tap: true });
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.getByRole('option', { name: 'demo-rover' }).click();
  const stats = page.getByLabel('Video stats');
  await expect(stats).toContainText(/H\.264 · [1-9]/);
  await t.holdAcks(true);
  // The relay's own view decides when the credit is spent: a pause of the vehicle's stream on a busy machine would
  // look the same from the page. Then frames already on their way (and a group sent before the hold) still arrive.
  const { auth, roverId } = await adminApi();
  await expect
    .poll(async () => {
      const stats = await (await fetch(`${base()}/api/vehicles/${roverId}/stats`, { headers: auth })).json();
      return stats.watchers.some((w: { inFlight: number }) => w.inFlight >= RELAY_LIMITS.creditWindowH264);
    }, { message: 'the relay has spent this watcher\'s credit' })
    .toBe(true);
  let settled = -1;
  await expect
    .poll(async () => {
      const [before, after] = [await t.framesIn(), (await page.waitForTimeout(700), await t.framesIn())];
      settled = after;
      return after - before;
    }, { message: 'the frames already sent have all arrived' })
    .toBe(0);
  await page.waitForTimeout(1500);
  expect(await t.framesIn(), 'no frame reaches a watcher that acknowledges none').toBe(settled);
  const frozen = await pixels(page);
  await t.holdAcks(false);
  await expect.poll(() => pixels(page), { message: 'the picture moves again' }).not.toBe(frozen);
  await expect(stats).toContainText(/[1-9]\d* fps/);
  await expect(stats).toContainText('0 dropped');
  expect(errors).toEqual([]);
  await page.context().close();
});

test('JPEG fallback: without WebCodecs the page asks for JPEG and the vehicle sends it beside its H.264', async ({ browser }) => {
  const { page } = await signedIn(browser, {
    init: () => {
      // A browser without WebCodecs.
      delete (window as unknown as { VideoDecoder?: unknown }).VideoDecoder;
    },
  });
  await page.getByRole('option', { name: 'demo-rover' }).click();
  const stats = page.getByLabel('Video stats');
  await expect(stats).toContainText(/JPEG · [1-9]\d* fps/);
  const first = await pixels(page);
  await expect.poll(() => pixels(page)).not.toBe(first);
  await shot(page, 'drive-jpeg-fallback');
  await page.context().close();
});

test('stale-video lockout: with no frame drawn for 500 ms (a stalled link) the pad sends zero and says why; driving resumes by itself', async ({ browser }) => {
  const { page, t } = await signedIn(browser, { tap: true });
  await page.getByRole('option', { name: 'demo-rover' }).click();
  await expect(page.getByLabel('Video stats')).toContainText(/[1-9]\d* fps/);
  await page.getByRole('button', { name: 'Take control' }).click();
  // Keys held before control is granted are dropped (the car must not lurch on the grant): press W once it is.
  await expect(page.getByRole('button', { name: 'Release control' })).toBeVisible();
  await page.keyboard.down('w');
  await expect.poll(() => speed(page)).toBeGreaterThan(0.5);
  await t.holdFrames(true);
  await expect(page.getByRole('alert').filter({ hasText: 'No video for 500 ms' })).toBeVisible();
  await expect.poll(() => speed(page), { message: 'W is held, yet the car is held at zero' }).toBe(0);
  await shot(page, 'drive-blind');
  await expect(page.getByRole('button', { name: 'Release control' })).toBeVisible();
  await t.holdFrames(false);
  await expect(page.getByRole('alert').filter({ hasText: 'No video' })).toHaveCount(0);
  await expect.poll(() => speed(page), { message: 'drives on once the picture is back' }).toBeGreaterThan(0.5);
  await page.keyboard.up('w');
  await page.getByRole('button', { name: 'Release control' }).click();
  await page.context().close();
});
