import { expect, test, type Browser, type Page } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { admin, base, signIn } from './session.js';

const shot = (page: Page, name: string) => page.screenshot({ path: `e2e/artifacts/${name}.png`, fullPage: true });

async function newPage(browser: Browser, viewport?: { width: number; height: number }): Promise<Page> {
  const context = await browser.newContext({ baseURL: base(), viewport, acceptDownloads: true });
  return context.newPage();
}

const speed = async (page: Page) => Number((await page.getByLabel('Speed').textContent())?.replace(/[^\d.-]/g, ''));

test.describe.configure({ mode: 'serial' });

test('admin: signs in with the generated password, sees every user, creates one, changes a role, deletes one', async ({ browser }) => {
  const page = await newPage(browser);
  await signIn(page, admin().email, admin().password);
  await expect(page.getByRole('link', { name: 'Connections' })).toBeVisible();
  await page.getByRole('link', { name: 'Users' }).click();
  const table = page.getByRole('table', { name: 'Users' });
  await expect(table.getByRole('cell', { name: admin().email, exact: true })).toBeVisible();

  await page.getByRole('button', { name: 'New user' }).click();
  const dialog = page.getByRole('dialog', { name: 'New user' });
  // The dialog moves focus to its first field when its opening animation ends, whatever has focus then: a field
  // filled before that loses its text (focus and typing move to Email). Email focused means the move has happened.
  await expect(dialog.getByLabel('Email', { exact: true })).toBeFocused();
  for (const [label, value] of [['Email', 'new.user@example.com'], ['Name', 'New User'], ['Password', 'password-123']]) {
    const field = dialog.getByLabel(label, { exact: true });
    await field.fill(value);
    await expect(field).toHaveValue(value);
  }
  await dialog.getByRole('button', { name: 'Create' }).click();
  const row = table.getByRole('row').filter({ hasText: 'new.user@example.com' });
  await expect(row).toBeVisible();
  await expect(row.getByRole('cell', { name: 'user', exact: true })).toBeVisible();

  // While it is the only admin, deleting the admin account is refused: the API's 409 is shown.
  await table.getByRole('row').filter({ hasText: admin().email }).getByRole('button', { name: `Delete ${admin().email}` }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('The last admin cannot be demoted, disabled or deleted')).toBeVisible();
  await shot(page, 'users-admin');

  await row.getByRole('button', { name: 'Edit new.user@example.com' }).click();
  await page.getByRole('dialog').getByRole('combobox', { name: 'Role' }).click();
  await page.getByRole('option', { name: 'admin' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Save' }).click();
  await expect(row.getByRole('cell', { name: 'admin', exact: true })).toBeVisible();
  await row.getByRole('button', { name: 'Delete new.user@example.com' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await expect(table.getByRole('row').filter({ hasText: 'new.user@example.com' })).toHaveCount(0);
  await page.context().close();
});

test('user: signs up, signs in, sees only themself, edits their name, cannot reach /connections', async ({ browser }) => {
  const page = await newPage(browser);
  await page.goto(base() + '/login');
  await page.getByRole('link', { name: 'Create account' }).click();
  await page.getByLabel('Email').fill('bad-email');
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByText('Must be a valid email address')).toBeVisible();
  await expect(page.getByText('Too short: at least 8 characters')).toBeVisible();
  await shot(page, 'signup-errors');
  await page.getByLabel('Email').fill('user.one@example.com');
  await page.getByLabel('Name').fill('User One');
  await page.getByLabel('Password').fill('password-123');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByText('Account created')).toBeVisible();
  await page.getByLabel('Password').fill('password-123');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/drive/);
  await expect(page.getByRole('link', { name: 'Connections' })).toHaveCount(0);

  await page.getByRole('link', { name: 'Users' }).click();
  await expect(page.getByRole('heading', { name: 'Your profile' })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Users' })).toHaveCount(0);
  await expect(page.getByLabel('Email')).toHaveValue('user.one@example.com');
  await page.getByLabel('Name').fill('User Renamed');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await expect(page.getByText('Profile saved')).toBeVisible();
  await expect(page.getByLabel('Signed in as')).toContainText('User Renamed');

  await page.goto(base() + '/connections');
  await expect(page.getByRole('heading', { name: /403/ })).toBeVisible();
  await shot(page, 'forbidden');
  await page.context().close();
});

test('drive: live video, take control, W moves the car, release stops it, E-STOP latches, hidden tab stops the car', async ({ browser }) => {
  const page = await newPage(browser);
  await signIn(page, admin().email, admin().password);
  await expect(page.getByRole('option', { name: 'demo-rover' })).toBeVisible();
  await page.getByRole('option', { name: 'demo-rover' }).click();
  const canvas = page.getByRole('img', { name: 'Live video' });
  await expect(page.getByText('No signal')).toHaveCount(0);
  const pixels = () => canvas.evaluate((c: HTMLCanvasElement) => c.toDataURL('image/png'));
  const first = await pixels();
  await expect.poll(pixels, { message: 'the picture changes over time' }).not.toBe(first);
  await expect(page.getByLabel('Video stats')).toContainText(/[1-9]\d* fps/);

  await page.getByRole('button', { name: 'Take control' }).click();
  await expect(page.getByRole('button', { name: 'Release control' })).toBeVisible();
  await page.keyboard.down('w');
  await page.waitForTimeout(1000);
  await expect.poll(() => speed(page), { message: 'holding W moves the car' }).toBeGreaterThan(0.5);
  await expect(page.getByLabel('Round trip')).toContainText(/\d/);
  await shot(page, 'drive');
  const released = Date.now();
  await page.keyboard.up('w');
  await expect.poll(() => speed(page), { timeout: 3000 }).toBe(0);
  test.info().annotations.push({ type: 'stop after key-up', description: `${Date.now() - released} ms until the telemetry showed speed 0` });

  await page.getByRole('button', { name: 'E-STOP' }).click();
  await expect(page.getByText('E-STOP latched', { exact: true })).toBeVisible();
  await page.keyboard.down('w');
  await page.waitForTimeout(600);
  expect(await speed(page)).toBe(0);
  await page.keyboard.up('w');
  await shot(page, 'drive-estop');
  await page.getByRole('button', { name: 'Clear E-STOP' }).click();
  await expect(page.getByText('E-STOP latched', { exact: true })).toHaveCount(0);
  await page.keyboard.down('w');
  await expect.poll(() => speed(page)).toBeGreaterThan(0.3);

  // Switching to another tab: the page turns hidden, the car stops and control is released.
  await page.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await page.keyboard.up('w');
  await expect(page.getByRole('button', { name: 'Take control' })).toBeVisible();
  await expect.poll(() => speed(page), { timeout: 3000 }).toBe(0);
  await page.context().close();
});

test('a driver who presses E-STOP keeps the controls: waits, clears it and drives on', async ({ browser }) => {
  const page = await newPage(browser);
  await signIn(page, 'user.one@example.com', 'password-123');
  await page.getByRole('option', { name: 'demo-rover' }).click();
  await page.getByRole('button', { name: 'Take control' }).click();
  await expect(page.getByRole('button', { name: 'Release control' })).toBeVisible();
  await page.keyboard.down('w');
  await expect.poll(() => speed(page)).toBeGreaterThan(0.3);
  await page.getByRole('button', { name: 'E-STOP' }).click();
  await expect(page.getByText('E-STOP latched', { exact: true })).toBeVisible();
  await expect(page.getByText(/You keep the controls; clear E-STOP to drive on/)).toBeVisible();
  await expect.poll(() => speed(page), { timeout: 3000 }).toBe(0);
  // Two seconds with W held: twice the lease. The page keeps sending; the seat must stay ours.
  await page.waitForTimeout(2000);
  await expect(page.getByText(/Control released/)).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Take control' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Release control' })).toBeVisible();
  expect(await speed(page)).toBe(0);
  await shot(page, 'drive-estop-user');
  await page.getByRole('button', { name: 'Clear E-STOP' }).click();
  await expect(page.getByText('E-STOP latched', { exact: true })).toHaveCount(0);
  await expect.poll(() => speed(page), { message: 'drives on with W still held' }).toBeGreaterThan(0.3);
  await page.keyboard.up('w');
  await expect.poll(() => speed(page), { timeout: 3000 }).toBe(0);
  await page.getByRole('button', { name: 'Release control' }).click();
  await page.context().close();
});

test('drive on a phone: the joystick moves the car', async ({ browser }) => {
  const page = await newPage(browser, { width: 390, height: 844 });
  await signIn(page, admin().email, admin().password);
  await page.getByRole('option', { name: 'demo-rover' }).click();
  await page.getByRole('button', { name: 'Take control' }).click();
  const stick = page.getByRole('application', { name: 'Joystick' });
  await stick.scrollIntoViewIfNeeded();
  const box = (await stick.boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2, box.y + 5, { steps: 5 });
  await expect.poll(() => speed(page)).toBeGreaterThan(0.5);
  await shot(page, 'drive-phone');
  await page.mouse.up();
  await expect.poll(() => speed(page), { timeout: 3000 }).toBe(0);
  await page.getByRole('button', { name: 'Release control' }).click();
  await page.context().close();
});

test('connections: the admin sees a session appear live, exports it as CSV, and kicks it', async ({ browser }) => {
  const adminPage = await newPage(browser);
  await signIn(adminPage, admin().email, admin().password);
  await adminPage.getByRole('link', { name: 'Connections' }).click();
  const active = adminPage.getByRole('table', { name: 'Active sessions' });
  await expect(active.getByRole('cell', { name: 'demo-rover', exact: true })).toBeVisible();

  const userPage = await newPage(browser);
  await signIn(userPage, 'user.one@example.com', 'password-123');
  const row = active.getByRole('row').filter({ hasText: 'user.one@example.com' });
  await expect(row).toBeVisible(); // arrived through connections:update, no reload
  await shot(adminPage, 'connections');

  const download = adminPage.waitForEvent('download');
  await adminPage.getByRole('button', { name: 'Export CSV' }).click();
  const file = await (await download).path();
  const csv = readFileSync(file!, 'utf8');
  expect(csv.split('\r\n')[0]).toContain('id,kind,userId');
  expect(csv).toContain('user.one@example.com');

  await row.getByRole('button', { name: 'Kick user.one@example.com' }).click();
  await expect(userPage.getByRole('alert').filter({ hasText: 'Disconnected' })).toContainText('An administrator ended this session');
  await expect(row).toHaveCount(0);
  await shot(userPage, 'kicked');
  await adminPage.context().close();
  await userPage.context().close();
});
