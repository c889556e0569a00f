import { expect, test, type Browser, type Page } from '@playwright/test';
import { admin, base } from './session.js';


/** A browser whose language is Korean (Accept-Language and navigator.language). */
async function koreanPage(browser: Browser, viewport = { width: 1280, height: 860 }): Promise<Page> {
  const context = await browser.newContext({ baseURL: base(), locale: 'ko-KR', viewport });
  return context.newPage();
}

async function signInKorean(page: Page): Promise<void> {
  await page.goto(base() + '/login');
  await expect(page).toHaveURL(/\/ko\/login$/);
  await page.getByLabel('이메일').fill(admin().email);
  await page.getByLabel('비밀번호').fill(admin().password);
  await page.getByRole('button', { name: '로그인', exact: true }).click();
  await expect(page).toHaveURL(/\/ko\/drive/);
}

test.describe.configure({ mode: 'serial' });

test('Korean: a Korean browser gets the Korean app — sign-in, errors from the server’s codes, drive, dates and the Korean font', async ({ browser }) => {
  const page = await koreanPage(browser);
  await page.goto(base() + '/login');
  await expect(page).toHaveURL(/\/ko\/login$/);
  await expect(page.locator('html')).toHaveAttribute('lang', 'ko');
  await expect(page.getByRole('heading', { name: 'vicer 로그인' })).toBeVisible();
  await expect(page).toHaveTitle('로그인 · vicer');
  // A refused sign-in: the server's code, worded in Korean.
  await page.getByLabel('이메일').fill(admin().email);
  await page.getByLabel('비밀번호').fill('wrong-password');
  await page.getByRole('button', { name: '로그인', exact: true }).click();
  await expect(page.getByRole('alert')).toHaveText('이메일 또는 비밀번호가 올바르지 않습니다');

  await signInKorean(page);
  await expect(page.getByRole('navigation', { name: '주 메뉴' }).getByRole('link', { name: '운전' })).toBeVisible();
  await page.getByRole('option', { name: /demo-rover/ }).click();
  await expect(page.getByRole('option', { name: /demo-rover 접속 중/ })).toBeVisible();
  await expect(page.getByRole('img', { name: '실시간 영상' })).toBeVisible();
  await expect(page.getByLabel('영상 통계')).toContainText(/H\.264 · [1-9]\d* fps/);
  await page.getByRole('button', { name: '조종 시작' }).click();
  await expect(page.getByRole('button', { name: '조종 넘기기' })).toBeVisible();
  await page.keyboard.down('w');
  const speed = page.getByLabel('속도', { exact: true });
  await expect.poll(async () => Number((await speed.textContent())?.replace(/[^\d.]/g, ''))).toBeGreaterThan(0.5);
  await expect(page.getByRole('region', { name: '원격 측정' }).getByRole('img', { name: /^방향 \d+도$/ })).toBeVisible();
  await page.keyboard.up('w');
  // The Korean font came with the app and is in use (no other host is reachable here).
  expect(await page.evaluate(async () => (await document.fonts.load('16px "Noto Sans KR"', '운전')).length)).toBeGreaterThan(0);
  await page.screenshot({ path: 'e2e/artifacts/cockpit-ko-desktop.png', fullPage: true });
  await page.getByRole('button', { name: '조종 넘기기' }).click();

  // Dates in the locale's format: the users table's "last login".
  await page.getByRole('navigation', { name: '주 메뉴' }).getByRole('link', { name: '사용자' }).click();
  await expect(page.getByRole('columnheader', { name: '마지막 로그인' })).toBeVisible();
  await expect(page.getByRole('row', { name: new RegExp(admin().email) })).toContainText(/\d{2}\. \d{1,2}\. \d{1,2}\. (AM|PM|오전|오후) \d{1,2}:\d{2}/);
  // A field error from the server's code, in Korean.
  await page.getByRole('navigation', { name: '주 메뉴' }).getByRole('link', { name: 'API 토큰' }).click();
  await page.getByLabel('유효 기간(일)').fill('400');
  await page.getByLabel('토큰 이름').fill('야간 내보내기');
  await page.getByRole('button', { name: '토큰 만들기' }).click();
  await expect(page.getByText('365 이하여야 합니다')).toBeVisible();
  await page.context().close();
});

test('Korean on a phone: the drive page fits, in Korean', async ({ browser }) => {
  const page = await koreanPage(browser, { width: 390, height: 844 });
  await signInKorean(page);
  await page.getByRole('option', { name: /demo-rover/ }).click();
  await expect(page.getByRole('region', { name: '조종 패드' })).toBeVisible();
  await expect(page.getByRole('button', { name: '비상 정지', exact: true })).toBeVisible();
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(width, 'nothing wider than the phone').toBeLessThanOrEqual(390);
  await page.screenshot({ path: 'e2e/artifacts/cockpit-ko-phone.png', fullPage: true });
  await page.context().close();
});

test('the language switch: English and back, and the choice is remembered over the browser’s language', async ({ browser }) => {
  const page = await koreanPage(browser);
  await signInKorean(page);
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page).toHaveURL(base() + '/drive');
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  // The browser still asks for Korean; the choice wins.
  await page.goto(base() + '/users');
  await expect(page).toHaveURL(base() + '/users');
  await expect(page.getByRole('heading', { name: 'Users', level: 1 })).toBeVisible();
  await page.getByRole('button', { name: '한국어' }).click();
  await expect(page).toHaveURL(base() + '/ko/users');
  await expect(page.getByRole('heading', { name: '사용자', level: 1 })).toBeVisible();
  await page.goto(base() + '/drive');
  await expect(page).toHaveURL(base() + '/ko/drive');
  await page.context().close();
});
