import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatToolbarModule } from '@angular/material/toolbar';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { AuthService } from '../auth/auth.service';
import { CallService } from '../chat/call.service';
import { RelaySocketService } from '../relay/relay-socket.service';
import { LanguageSwitchComponent } from '../i18n/language';
import { roleName, themeName } from '../i18n/messages';
import { ThemeService } from './theme.service';

@Component({
  selector: 'app-shell',
  imports: [RouterOutlet, RouterLink, RouterLinkActive, MatToolbarModule, MatButtonModule, LanguageSwitchComponent],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <header>
    <mat-toolbar class="bar">
      <a class="brand" routerLink="/drive">vicer</a>
      <nav aria-label="Main" i18n-aria-label>
        <a mat-button routerLink="/drive" routerLinkActive="active" i18n>Drive</a>
        <a mat-button routerLink="/users" routerLinkActive="active" i18n>Users</a>
        <a mat-button routerLink="/chat" routerLinkActive="active" i18n>Chat</a>
        <a mat-button routerLink="/tokens" routerLinkActive="active" i18n>API tokens</a>
        @if (auth.can('dashboard:view')) {
          <a mat-button routerLink="/dashboard" routerLinkActive="active" i18n>Dashboard</a>
        }
        @if (auth.can('connections:manage')) {
          <a mat-button routerLink="/connections" routerLinkActive="active" i18n>Connections</a>
        }
        @if (auth.can('recordings:manage')) {
          <a mat-button routerLink="/recordings" routerLinkActive="active" i18n>Recordings</a>
        }
      </nav>
      <span class="spacer"></span>
      <span class="who" aria-label="Signed in as" i18n-aria-label>{{ auth.user()?.name }} <small>({{ roleName(auth.user()?.role) }})</small></span>
      <button mat-button type="button" class="theme" (click)="theme.next()" [attr.aria-label]="themeLabel()" i18n>Theme: {{ themeName() }}</button>
      <app-language-switch />
      <button mat-stroked-button type="button" (click)="auth.logout()" i18n>Sign out</button>
    </mat-toolbar>
    </header>
    @if (banner(); as b) {
      <div class="banner" role="alert">{{ b }}</div>
    }
    @if (calls.phase() === 'ringing') {
      <div class="incoming" role="dialog" aria-label="Incoming call" i18n-aria-label>
        <p i18n><strong>{{ calls.peer()?.name }}</strong> is calling you</p>
        <button mat-flat-button type="button" (click)="calls.accept()" i18n>Accept</button>
        <button mat-stroked-button type="button" (click)="calls.decline()" i18n>Decline</button>
      </div>
    }
    <main><router-outlet /></main>
  `,
  styles: `
    .bar { gap: 8px; flex-wrap: wrap; height: auto; min-height: 56px; }
    .brand { font-weight: 600; color: inherit; text-decoration: none; margin-right: 8px; }
    nav { display: flex; flex-wrap: wrap; }
    .active { background: color-mix(in srgb, var(--mat-sys-primary) 14%, transparent); }
    .spacer { flex: 1; }
    .who { font-size: 0.9rem; }
    .banner { background: var(--mat-sys-error-container); color: var(--mat-sys-on-error-container); padding: 8px 16px; }
    main { padding: 12px; }
    .incoming { position: fixed; right: 16px; top: 72px; z-index: 1000; background: var(--mat-sys-surface-container-highest); border-radius: 12px; padding: 12px 16px; box-shadow: 0 4px 16px rgba(0,0,0,.3); display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
    .incoming p { margin: 0 8px 0 0; }
  `,
})
export class ShellComponent {
  protected readonly auth = inject(AuthService);
  protected readonly calls = inject(CallService);
  protected readonly theme = inject(ThemeService);
  private readonly relay = inject(RelaySocketService);
  protected readonly roleName = roleName;
  protected readonly themeName = computed(() => themeName(this.theme.mode()));
  protected readonly themeLabel = computed(() => $localize`Theme: ${this.themeName()}:theme: (change)`);
  protected readonly banner = computed(() => {
    switch (this.relay.status()) {
      case 'kicked':
        return $localize`Disconnected: ${this.relay.notice() ?? $localize`the session was ended`}:reason:. Reload the page to connect again.`;
      case 'refused':
        return $localize`Live connection refused: ${this.relay.notice()}:reason:`;
      case 'reconnecting':
        return $localize`Disconnected from the live server — reconnecting…`;
      default:
        return null;
    }
  });
}
