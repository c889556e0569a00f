import { httpResource } from '@angular/common/http';
import { ChangeDetectionStrategy, Component } from '@angular/core';
import { MatCardModule } from '@angular/material/card';
import type { HealthView } from '@vicer/protocol';

/** Placeholder home: shows that the web app reaches the API. */
@Component({
  selector: 'app-home',
  imports: [MatCardModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-card appearance="outlined">
      <mat-card-header><mat-card-title>Server</mat-card-title></mat-card-header>
      <mat-card-content>
        @if (health.value(); as h) {
          <p>Status {{ h.status }}, version {{ h.version }}, database {{ h.db }}.</p>
        } @else if (health.error()) {
          <p>The server does not answer.</p>
        } @else {
          <p>Checking…</p>
        }
      </mat-card-content>
    </mat-card>
  `,
})
export class HomeComponent {
  protected readonly health = httpResource<HealthView>(() => '/api/health');
}
