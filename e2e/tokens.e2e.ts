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

  // A script (no browser session) uses it: read only, as the page says.
  await expect(row).toContainText('Read');
  const script = await fetch(base() + '/api/users/me', { headers: { authorization: `Bearer ${secret}` } });
  expect(script.status).toBe(200);
  expect((await script.json()).email).toBe(admin().email);
  const write = await fetch(base() + '/api/vehicles', { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'by-a-reader' }) });
  expect(write.status).toBe(403);
  expect((await write.json()).code).toBe('token-scope');

  // A second token with a scope ticked shows it; revoked at once.
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByLabel('Token name').fill('provisioning');
  await page.getByRole('checkbox', { name: 'Manage vehicles' }).check();
  await page.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByLabel('The new token')).toHaveValue(/^vct_/);
  const second = page.getByRole('table', { name: 'Your tokens' }).getByRole('row', { name: /provisioning/ });
  await expect(second).toContainText('Read, Manage vehicles');
  await second.getByRole('button', { name: 'Revoke provisioning' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
  await expect(second).toHaveCount(0);

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

test('Sign out everywhere ends this session and the other, and revokes the account’s tokens', async ({ browser }) => {
  // A user of its own: signing the admin out everywhere would end the other tests' sessions.
  const login = await (await fetch(base() + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: admin().email, password: admin().password }) })).json();
  const email = `everywhere-${Date.now()}@example.com`;
  const made = await fetch(base() + '/api/users', { method: 'POST', headers: { authorization: `Bearer ${login.accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'password-123', name: 'Everywhere', role: 'user' }) });
  expect(made.status).toBe(201);
  const other = await (await fetch(base() + '/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'password-123' }) })).json();
  const token = await (await fetch(base() + '/api/users/me/tokens', { method: 'POST', headers: { authorization: `Bearer ${other.accessToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'script' }) })).json();

  const context = await browser.newContext({ baseURL: base() });
  const page = await context.newPage();
  await signIn(page, email, 'password-123');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API tokens' }).click();
  await page.getByRole('button', { name: 'Sign out everywhere' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Sign out everywhere' }).click();
  await expect(page).toHaveURL(/\/login/);
  expect((await fetch(base() + '/api/users/me', { headers: { authorization: `Bearer ${other.accessToken}` } })).status).toBe(401);
  expect((await fetch(base() + '/api/users/me', { headers: { authorization: `Bearer ${token.token}` } })).status).toBe(401);
  await context.close();
});
