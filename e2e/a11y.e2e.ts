import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { admin, base } from './session.js';


/** axe-core, WCAG 2 A and AA and best practices; every violation listed with where it is. */
async function audit(page: Page, name: string) {
  const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']).analyze();
  const found = r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect.soft(found, `${name}: ${found.join('\n')}`).toEqual([]);
}

test.describe.configure({ mode: 'serial' });

const WORDS = {
  en: { signIn: 'Sign in', createAccount: 'Create account', email: 'Email', password: 'Password', takeControl: 'Take control', nav: 'Main' },
  ko: { signIn: '로그인', createAccount: '계정 만들기', email: '이메일', password: '비밀번호', takeControl: '조종 시작', nav: '주 메뉴' },
};

for (const [lang, scheme] of [
  ['en', 'light'],
  ['en', 'dark'],
  ['ko', 'light'],
  ['ko', 'dark'],
] as const) {
  test(`accessibility (axe, ${lang}, ${scheme}): every page has no WCAG 2 A/AA or best-practice violation`, async ({ browser }) => {
    const w = WORDS[lang];
    const context = await browser.newContext({ baseURL: base(), colorScheme: scheme, locale: lang === 'ko' ? 'ko-KR' : 'en-US' });
    const page = await context.newPage();
    await page.goto(base() + '/login');
    await expect(page.getByRole('button', { name: w.signIn, exact: true })).toBeVisible();
    await audit(page, 'login');
    await page.goto(base() + '/signup');
    await expect(page.getByRole('button', { name: w.createAccount, exact: true })).toBeVisible();
    await audit(page, 'signup');
    await page.goto(base() + '/login');
    await page.getByLabel(w.email).fill(admin().email);
    await page.getByLabel(w.password).fill(admin().password);
    await page.getByRole('button', { name: w.signIn, exact: true }).click();
    await expect(page).toHaveURL(/\/drive/);
    await expect(page.getByRole('button', { name: w.takeControl })).toBeVisible();
    await audit(page, 'drive');
    for (const [path, ready] of [
      ['/users', 'heading'],
      ['/connections', 'heading'],
      ['/chat', 'heading'],
      ['/tokens', 'heading'],
      ['/dashboard', 'heading'],
      ['/recordings', 'heading'],
      ['/nowhere', 'heading'],
    ] as const) {
      await page.getByRole('navigation', { name: w.nav }).waitFor();
      await page.goto(base() + path);
      await expect(page.getByRole(ready).first()).toBeVisible();
      await page.waitForLoadState('networkidle').catch(() => undefined);
      await audit(page, path);
    }
    await context.close();
  });
}
