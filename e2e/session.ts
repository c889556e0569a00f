import { expect, type Page } from '@playwright/test';

/** The server the browser tests run against (global-setup starts it). */
export const base = () => process.env.E2E_BASE_URL!;
/** The admin account global-setup created. */
export const admin = () => ({ email: process.env.E2E_ADMIN_EMAIL!, password: process.env.E2E_ADMIN_PASSWORD! });

/** Signs in through the web app's form and waits for the drive page. */
export async function signIn(page: Page, email = admin().email, password = admin().password): Promise<void> {
  await page.goto(base() + '/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/drive/);
}
