import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatToolbarModule } from '@angular/material/toolbar';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { AuthService } from '../auth/auth.service';
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
  `,
})
export class ShellComponent {
  protected readonly auth = inject(AuthService);
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
