import { expect, test } from '@playwright/test';
import { admin, base, signIn } from './session.js';


test('API tokens: made on the page, shown once, used by a script, last use shown, revoked', async ({ browser }) => {
  const context = await browser.newContext({ baseURL: base() });
  const page = await context.newPage();
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
  await expect(page.getByRole('heading', { name: 'API tokens', level: 1 })).toBeVisible();

  // Bad input names its field and makes nothing.
  await page.getByLabel('Expires in (days)').fill('400');
  await page.getByLabel('Token name').fill('nightly export');
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByText('Must be at most 365')).toBeVisible();
  await expect(page.getByText('No tokens yet.')).toBeVisible();

  await page.getByLabel('Expires in (days)').fill('7');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = await page.getByLabel('The new token').inputValue();
  expect(secret).toMatch(/^vct_/);
  await page.screenshot({ path: 'e2e/artifacts/api-tokens.png', fullPage: true });
  const row = page.getByRole('table', { name: 'Your tokens' }).getByRole('row', { name: /nightly export/ });
  await expect(row).toContainText('never');

  // A script (no browser session) uses it.
  const script = await fetch(base() + '/api/users/me', { headers: { authorization: `Bearer ${secret}` } });
  expect(script.status).toBe(200);
  expect((await script.json()).email).toBe(admin().email);

  await page.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByLabel('The new token')).toHaveCount(0);
  await page.reload();
  await expect(row).not.toContainText('never');
  await expect(row).not.toContainText(secret);
  await expect(page.getByRole('table', { name: 'Everyone’s tokens' }).getByRole('row', { name: /nightly export/ })).toContainText(admin().email);

  await row.getByRole('button', { name: 'Revoke nightly export' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByText('No tokens yet.')).toBeVisible();
  expect((await fetch(base() + '/api/users/me', { headers: { authorization: `Bearer ${secret}` } })).status).toBe(401);
  await context.close();
});
