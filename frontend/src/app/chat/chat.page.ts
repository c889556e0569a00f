import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { MatListModule } from '@angular/material/list';
import { AuthService } from '../auth/auth.service';
import { RelaySocketService } from '../relay/relay-socket.service';

/** Who is online now, from the server's presence list. */
@Component({
  selector: 'app-chat',
  imports: [MatListModule, DatePipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h1>Online now</h1>
    <mat-list aria-label="Online users">
      @for (p of relay.presence(); track p.userId) {
        <mat-list-item>
          <span matListItemTitle>{{ p.name }}{{ p.userId === auth.user()?.id ? ' (you)' : '' }}</span>
          <span matListItemLine>online since {{ p.since | date: 'shortTime' }}</span>
        </mat-list-item>
      } @empty {
        <mat-list-item>Nobody else is online.</mat-list-item>
      }
    </mat-list>
  `,
  styles: `h1 { font-size: 1.3rem; }`,
})
export class ChatPage {
  protected readonly relay = inject(RelaySocketService);
  protected readonly auth = inject(AuthService);
}
