import { ChangeDetectionStrategy, Component } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { RouterLink } from '@angular/router';

@Component({
  selector: 'app-forbidden',
  imports: [RouterLink, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<section class="error-page"><h1 i18n>403 — Not allowed</h1><p i18n>Your account cannot open this page.</p><a mat-flat-button routerLink="/drive" i18n>Back to Drive</a></section>`,
  styles: `.error-page { padding: 48px 16px; text-align: center; }`,
})
export class ForbiddenPage {}

@Component({
  selector: 'app-not-found',
  imports: [RouterLink, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<section class="error-page"><h1 i18n>404 — Page not found</h1><p i18n>There is nothing at this address.</p><a mat-flat-button routerLink="/drive" i18n>Back to Drive</a></section>`,
  styles: `.error-page { padding: 48px 16px; text-align: center; }`,
})
export class NotFoundPage {}
