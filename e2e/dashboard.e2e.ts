import { expect, test, type Page } from '@playwright/test';
import { base, signIn } from './session.js';


const tile = (page: Page, name: string) => page.getByLabel('Now').locator('div').filter({ has: page.getByRole('term').filter({ hasText: new RegExp(`^${name}$`) }) }).getByRole('definition');
const points = (page: Page, caption: string) =>
  page.locator('figure').filter({ hasText: caption }).locator('[data-points]').getAttribute('data-points').then(Number);

for (const [label, viewport] of [
  ['desktop', { width: 1280, height: 900 }],
  ['phone', { width: 390, height: 844 }],
] as const) {
  test(`dashboard (${label}): live tiles and charts get points while demo-rover is watched and driven`, async ({ browser }) => {
    const context = await browser.newContext({ baseURL: base(), viewport });
    const page = await context.newPage();
    await signIn(page);

    // A second page watches and drives demo-rover, so that every number has something to count.
    const driver = await context.newPage();
    await driver.goto(base() + '/drive');
    await driver.getByRole('option', { name: /demo-rover/ }).click();
    await driver.getByRole('button', { name: 'Take control' }).click();
    await expect(driver.getByRole('button', { name: 'Release control' })).toBeVisible();
    await driver.keyboard.down('w');

    await page.goto(base() + '/dashboard');
    await expect(page.getByRole('heading', { name: 'Dashboard', level: 1 })).toBeVisible();
    await expect(tile(page, 'Vehicles online')).toHaveText('1');
    await expect(tile(page, 'Drivers')).toHaveText('1');
    await expect.poll(async () => Number(await tile(page, 'Frames/s relayed').textContent())).toBeGreaterThan(0);
    await expect.poll(async () => Number(await tile(page, 'Controls/s').textContent())).toBeGreaterThan(0);
    await expect(tile(page, 'Control RTT p50')).toHaveText(/\d ms/);
    const before = await points(page, 'Video frames per second');
    await expect.poll(() => points(page, 'Video frames per second'), { message: 'the chart grows with each sample' }).toBeGreaterThan(before);
    expect(await points(page, 'Sessions opened per hour (24 h)')).toBe(24);
    expect(await points(page, 'Failed sign-ins per hour (24 h)')).toBe(24);
    await page.screenshot({ path: `e2e/artifacts/dashboard-${label}.png`, fullPage: true });

    await driver.keyboard.up('w');
    await driver.getByRole('button', { name: 'Release control' }).click();
    await expect(tile(page, 'Drivers')).toHaveText('0');
    await context.close();
  });
}

test('the dashboard is for admins: a user is sent to the not-allowed page and is not fed', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: base() });
  const page = await context.newPage();
  const email = `dash-${Date.now()}@example.com`;
  expect((await page.request.post(base() + '/api/auth/signup', { data: { email, password: 'password-123' } })).status()).toBe(201);
  await signIn(page, email, 'password-123');
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' })).toHaveCount(0);
  await page.goto(base() + '/dashboard');
  await expect(page).toHaveURL(/\/forbidden/);
  await context.close();
});
