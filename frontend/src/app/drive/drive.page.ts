import { DecimalPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { MatListModule } from '@angular/material/list';
import { ControlPadComponent } from './control-pad.component';
import { TelemetryPanelComponent } from './telemetry-panel.component';
import { DriveSession } from './drive-session';
import { VideoPanelComponent } from './video-panel.component';

@Component({
  selector: 'app-drive',
  imports: [MatListModule, VideoPanelComponent, ControlPadComponent, TelemetryPanelComponent, DecimalPipe],
  providers: [DriveSession],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h1 class="visually-hidden" i18n>Drive</h1>
    <div class="layout">
      <section class="vehicles" aria-label="Vehicles" i18n-aria-label>
        <h2 i18n>Vehicles</h2>
        @if (session.vehicles().length === 0) {
          <p i18n>No vehicle is registered yet.</p>
        }
        <mat-selection-list [multiple]="false" hideSingleSelectionIndicator aria-label="Vehicles" i18n-aria-label>
          @for (v of session.vehicles(); track v.id) {
            <mat-list-option [selected]="v.id === session.selectedId()" (click)="session.select(v.id)">
              <span matListItemTitle><span class="dot" [class.on]="v.online" aria-hidden="true"></span>{{ v.name }}</span>
              <span matListItemLine>
                @if (v.online) {<ng-container i18n>online</ng-container>} @else {<ng-container i18n>offline</ng-container>} · <ng-container i18n>driver {{ v.driver?.name ?? '—' }}</ng-container> · <ng-container i18n>{{ v.viewers }} watching</ng-container>@if (v.estopped) { · <ng-container i18n>E-STOP</ng-container>}
              </span>
            </mat-list-option>
          }
        </mat-selection-list>
      </section>
      @if (session.selected(); as v) {
        <section class="stage" [attr.aria-label]="vehicleLabel(v.name)">
          <h2>{{ v.name }} <small i18n>{{ v.fps | number: '1.0-0' }} fps from the vehicle</small></h2>
          <app-video-panel [vehicleId]="v.id" [online]="v.online" />
          <app-control-pad />
          <app-telemetry-panel />
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
  protected readonly vehicleLabel = (name: string) => $localize`Vehicle ${name}:name:`;

  constructor() {
    void this.session.load();
  }
}
