import { expect, test, type Page } from '@playwright/test';
import { admin, base } from './session.js';


/** The page's background as relative luminance (0 black … 1 white). */
const background = (page: Page) =>
  page.evaluate(() => {
    const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/[\d.]+/g)!.slice(0, 3).map(Number);
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  });

test('fonts come with the app: Roboto renders with every other host unreachable', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: base() });
  // Nothing but the server itself answers: a font from a CDN would fail here.
  await context.route(/^(?!http:\/\/(127\.0\.0\.1|localhost)[:/])/, (route) => route.abort());
  const page = await context.newPage();
  const fonts: string[] = [];
  page.on('response', (r) => r.url().endsWith('.woff2') && r.ok() && fonts.push(r.url()));
  await page.goto(base() + '/login');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  await page.evaluate(() => document.fonts.ready);
  expect(await page.evaluate(() => getComputedStyle(document.body).fontFamily)).toMatch(/^Roboto/);
  expect(await page.evaluate(() => [...document.fonts].some((f) => f.family.replace(/"/g, '') === 'Roboto' && f.status === 'loaded'))).toBe(true);
  expect(fonts.length).toBeGreaterThan(0);
  for (const url of fonts) expect(url.startsWith(base())).toBe(true);
  await context.close();
});

test('dark mode follows the system; the toggle overrides it and is remembered', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: base(), colorScheme: 'dark' });
  const page = await context.newPage();
  await page.goto(base() + '/login');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible();
  expect(await background(page)).toBeLessThan(0.3);
  await page.getByLabel('Email').fill(admin().email);
  await page.getByLabel('Password').fill(admin().password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/drive/);
  const toggle = page.getByRole('button', { name: /^Theme: / });
  await expect(toggle).toHaveAccessibleName('Theme: system (change)');
  await toggle.click();
  await expect(toggle).toHaveAccessibleName('Theme: light (change)');
  await expect.poll(() => background(page)).toBeGreaterThan(0.7);
  await page.screenshot({ path: 'e2e/artifacts/theme-light-on-dark-system.png' });
  await page.reload();
  await expect(page.getByRole('button', { name: /^Theme: / })).toHaveAccessibleName('Theme: light (change)');
  expect(await background(page)).toBeGreaterThan(0.7);
  await page.getByRole('button', { name: /^Theme: / }).click();
  await expect.poll(() => background(page)).toBeLessThan(0.3);
  await page.screenshot({ path: 'e2e/artifacts/theme-dark.png' });
  await context.close();
});
