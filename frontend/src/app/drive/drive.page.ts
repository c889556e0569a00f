import { DecimalPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { MatListModule } from '@angular/material/list';
import { ControlPadComponent } from './control-pad.component';
import { DriveSession } from './drive-session';
import { VideoPanelComponent } from './video-panel.component';

@Component({
  selector: 'app-drive',
  imports: [MatListModule, VideoPanelComponent, ControlPadComponent, DecimalPipe],
  providers: [DriveSession],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div class="layout">
      <section class="vehicles" aria-label="Vehicles">
        <h2>Vehicles</h2>
        @if (session.vehicles().length === 0) {
          <p>No vehicle is registered yet.</p>
        }
        <mat-selection-list [multiple]="false" hideSingleSelectionIndicator aria-label="Vehicles">
          @for (v of session.vehicles(); track v.id) {
            <mat-list-option [selected]="v.id === session.selectedId()" (click)="session.select(v.id)" [attr.aria-label]="v.name">
              <span matListItemTitle><span class="dot" [class.on]="v.online" [attr.aria-label]="v.online ? 'online' : 'offline'"></span>{{ v.name }}</span>
              <span matListItemLine>
                {{ v.online ? 'online' : 'offline' }} · driver {{ v.driver?.name ?? '—' }} · {{ v.viewers }} watching{{ v.estopped ? ' · E-STOP' : '' }}
              </span>
            </mat-list-option>
          }
        </mat-selection-list>
      </section>
      @if (session.selected(); as v) {
        <section class="stage" [attr.aria-label]="'Vehicle ' + v.name">
          <h2>{{ v.name }} <small>{{ v.fps | number: '1.0-0' }} fps from the vehicle</small></h2>
          <app-video-panel [vehicleId]="v.id" [online]="v.online" />
          <app-control-pad />
        </section>
      }
    </div>
  `,
  styles: `
    .layout { display: grid; grid-template-columns: minmax(220px, 300px) 1fr; gap: 16px; }
    @media (max-width: 800px) { .layout { grid-template-columns: 1fr; } }
    h2 { margin: 4px 0 8px; font-size: 1.2rem; }
    h2 small { font-weight: 400; opacity: 0.7; font-size: 0.8rem; }
    .stage { display: flex; flex-direction: column; gap: 12px; min-width: 0; }
    .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; background: #9e9e9e; margin-right: 8px; }
    .dot.on { background: #43a047; }
  `,
})
export class DrivePage {
  protected readonly session = inject(DriveSession);

  constructor() {
    void this.session.load();
  }
}
