import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatToolbarModule } from '@angular/material/toolbar';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { AuthService } from '../auth/auth.service';
import { CallService } from '../chat/call.service';
import { RelaySocketService } from '../relay/relay-socket.service';

@Component({
  selector: 'app-shell',
  imports: [RouterOutlet, RouterLink, RouterLinkActive, MatToolbarModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-toolbar class="bar">
      <a class="brand" routerLink="/drive">vicer</a>
      <nav aria-label="Main">
        <a mat-button routerLink="/drive" routerLinkActive="active">Drive</a>
        <a mat-button routerLink="/users" routerLinkActive="active">Users</a>
        <a mat-button routerLink="/chat" routerLinkActive="active">Chat</a>
        @if (auth.can('connections:manage')) {
          <a mat-button routerLink="/connections" routerLinkActive="active">Connections</a>
        }
      </nav>
      <span class="spacer"></span>
      <span class="who" aria-label="Signed in as">{{ auth.user()?.name }} <small>({{ auth.user()?.role }})</small></span>
      <button mat-stroked-button type="button" (click)="auth.logout()">Sign out</button>
    </mat-toolbar>
    @if (banner(); as b) {
      <div class="banner" role="alert">{{ b }}</div>
    }
    @if (calls.phase() === 'ringing') {
      <div class="incoming" role="dialog" aria-label="Incoming call">
        <p><strong>{{ calls.peer()?.name }}</strong> is calling you</p>
        <button mat-flat-button type="button" (click)="calls.accept()">Accept</button>
        <button mat-stroked-button type="button" (click)="calls.decline()">Decline</button>
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
  private readonly relay = inject(RelaySocketService);
  protected readonly banner = computed(() => {
    switch (this.relay.status()) {
      case 'kicked':
        return `Disconnected: ${this.relay.notice() ?? 'the session was ended'}. Reload the page to connect again.`;
      case 'refused':
        return `Live connection refused: ${this.relay.notice()}`;
      case 'reconnecting':
        return 'Disconnected from the live server — reconnecting…';
      default:
        return null;
    }
  });
}
