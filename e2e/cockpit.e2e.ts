import { expect, test, type Browser, type Locator, type Page } from '@playwright/test';
import { base, signIn } from './session.js';


async function drivePage(browser: Browser, viewport: { width: number; height: number }): Promise<Page> {
  const page = await (await browser.newContext({ baseURL: base(), viewport })).newPage();
  await signIn(page);
  await page.getByRole('option', { name: 'demo-rover' }).click();
  return page;
}

const points = (l: Locator) => l.evaluate((e) => Number(e.getAttribute('data-points')));
const overlaps = async (a: Locator, b: Locator) => {
  const [x, y] = [(await a.boundingBox())!, (await b.boundingBox())!];
  return x.x < y.x + y.width && y.x < x.x + x.width && x.y < y.y + y.height && y.y < x.y + x.height;
};

test.describe.configure({ mode: 'serial' });

for (const [name, viewport] of [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
] as const) {
  test(`cockpit (${name}): telemetry panel, plots and trail move while driving demo-rover; nothing overlaps`, async ({ browser }) => {
    const page = await drivePage(browser, viewport);
    const panel = page.getByRole('region', { name: 'Telemetry' });
    await expect(panel).toBeVisible();
    const compass = panel.getByRole('img', { name: /^Heading \d+ degrees$/ });
    const trail = panel.getByRole('img', { name: /^Trail of/ });
    const heading0 = await compass.getAttribute('aria-label');
    await expect(panel.getByRole('meter', { name: 'Battery' })).toHaveAttribute('value', /^\d/);

    await page.getByRole('button', { name: 'Take control' }).click();
    await expect(page.getByRole('button', { name: 'Release control' })).toBeVisible();
    await page.keyboard.down('w');
    await page.keyboard.down('d');
    await expect.poll(() => points(trail), { message: 'the trail grows as the car moves' }).toBeGreaterThan(5);
    await expect.poll(() => compass.getAttribute('aria-label'), { message: 'the compass turns' }).not.toBe(heading0);
    await expect.poll(() => points(panel.getByTestId('rtt-chart')), { message: 'round trips are plotted' }).toBeGreaterThan(1);
    await expect.poll(() => points(panel.getByTestId('latency-chart')), { message: 'video latency is plotted' }).toBeGreaterThan(1);
    await expect(panel.getByText(/^throttle 1\.00$/)).toBeVisible();
    await page.keyboard.up('d');
    await page.keyboard.up('w');

    const video = page.getByRole('img', { name: 'Live video' });
    const estop = page.getByRole('button', { name: 'E-STOP' });
    for (const [a, b] of [
      [video, estop],
      [video, panel],
      [estop, panel],
    ])
      expect(await overlaps(a, b)).toBe(false);
    await page.screenshot({ path: `e2e/artifacts/cockpit-${name}.png`, fullPage: true });

    await estop.click();
    await expect(panel.getByRole('status').filter({ hasText: 'E-STOP is latched' })).toBeVisible();
    await page.getByRole('button', { name: 'Clear E-STOP' }).click();
    await expect(panel.getByText('E-STOP is latched')).toHaveCount(0);
    await page.getByRole('button', { name: 'Release control' }).click();
    await page.context().close();
  });
}
