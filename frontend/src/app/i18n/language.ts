import { ChangeDetectionStrategy, Component, inject, LOCALE_ID } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';

/** The languages the app is built in; each build lives under its own path (`/` for English, `/ko/` for Korean). */
export const LANGUAGES = [
  { code: 'en', name: 'English', base: '' },
  { code: 'ko', name: '한국어', base: '/ko' },
] as const;
export type Language = (typeof LANGUAGES)[number]['code'];

/** Read by the server to send a visitor to the build in their language (see backend/src/app.ts). */
export const LANGUAGE_COOKIE = 'vicer_lang';

/** The same page in another language's build: the choice is remembered (a cookie the server reads), then it loads. */
export function switchLanguage(to: Language, location: Location = window.location): void {
  document.cookie = `${LANGUAGE_COOKIE}=${to}; Path=/; Max-Age=31536000; SameSite=Lax`;
  const path = location.pathname.replace(/^\/ko(?=\/|$)/, '') || '/';
  const base = LANGUAGES.find((l) => l.code === to)!.base;
  location.assign(base + (path === '/' && base ? '/' : path) + location.search);
}

/** A link to the other language, named in that language. */
@Component({
  selector: 'app-language-switch',
  imports: [MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @for (l of others; track l.code) {
      <button mat-button type="button" [attr.lang]="l.code" (click)="go(l.code)">{{ l.name }}</button>
    }
  `,
})
export class LanguageSwitchComponent {
  private readonly current = inject(LOCALE_ID).slice(0, 2);
  protected readonly others = LANGUAGES.filter((l) => l.code !== this.current);

  protected go(code: Language): void {
    switchLanguage(code);
  }
}
