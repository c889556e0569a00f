import { DecimalPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, DestroyRef, effect, inject, signal, untracked } from '@angular/core';
import { DASHBOARD_EVENTS, DASHBOARD_LIMITS, type DashboardHourly, type DashboardSample, type DashboardWatchAck } from '@vicer/protocol';
import { RelaySocketService } from '../relay/relay-socket.service';
import { ToastService } from '../shell/toast.service';
import { TimeChartComponent } from './time-chart.component';

const secs = (ms: number) => ms / 1000;

/** Admins: the whole service at a glance, live over the relay socket (every instance summed). */
@Component({
  selector: 'app-dashboard',
  imports: [DecimalPipe, TimeChartComponent],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h1 i18n>Dashboard</h1>
    <dl class="tiles" aria-label="Now" i18n-aria-label>
      <div><dt i18n>Vehicles online</dt><dd>{{ now()?.vehiclesOnline ?? '–' }}</dd></div>
      <div><dt i18n>Drivers</dt><dd>{{ now()?.drivers ?? '–' }}</dd></div>
      <div><dt i18n>Viewers</dt><dd>{{ now()?.viewers ?? '–' }}</dd></div>
      <div><dt i18n>Frames/s relayed</dt><dd>{{ now() ? (now()!.framesPerSec | number: '1.0-1') : '–' }}</dd></div>
      <div><dt i18n>Controls/s</dt><dd>{{ now() ? (now()!.controlsPerSec | number: '1.0-1') : '–' }}</dd></div>
      <div><dt i18n>Dropped frames/s</dt><dd>{{ now() ? (now()!.droppedPerSec | number: '1.0-1') : '–' }}</dd></div>
      <div><dt i18n>Control RTT p50</dt><dd>{{ now()?.rttP50Ms != null ? (now()!.rttP50Ms! | number: '1.0-1') + ' ms' : '–' }}</dd></div>
      <div><dt i18n>Control RTT p99</dt><dd>{{ now()?.rttP99Ms != null ? (now()!.rttP99Ms! | number: '1.0-1') + ' ms' : '–' }}</dd></div>
      <div><dt i18n>Instances</dt><dd>{{ now()?.instances ?? '–' }}</dd></div>
    </dl>
    <div class="charts">
      <app-time-chart i18n-caption caption="Online (last 10 min)" [series]="onlineSeries" [data]="online()" />
      <app-time-chart i18n-caption caption="Video frames per second" [series]="framesSeries" [data]="frames()" />
      <app-time-chart i18n-caption caption="Controls per second" [series]="controlsSeries" [data]="controls()" />
      <app-time-chart i18n-caption caption="Control round trip, ms" [series]="rttSeries" [data]="rtt()" />
      <app-time-chart i18n-caption caption="Sessions opened per hour (24 h)" [series]="sessionsSeries" [data]="sessions()" [bars]="true" />
      <app-time-chart i18n-caption caption="Failed sign-ins per hour (24 h)" [series]="failedSeries" [data]="failed()" [bars]="true" />
    </div>
  `,
  styles: `
    h1 { margin: 0 0 12px; font-size: 1.4rem; }
    .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; margin: 0 0 16px; }
    .tiles div { border: 1px solid var(--mat-sys-outline-variant); border-radius: 8px; padding: 8px 12px; }
    dt { font-size: 0.8rem; color: var(--mat-sys-on-surface-variant); }
    dd { margin: 0; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
    .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 420px), 1fr)); gap: 16px; }
  `,
})
export class DashboardPage {
  private readonly relay = inject(RelaySocketService);
  private readonly toast = inject(ToastService);
  private readonly samples = signal<DashboardSample[]>([]);
  private readonly hourly = signal<DashboardHourly | null>(null);
  protected readonly now = computed(() => this.samples().at(-1) ?? null);

  protected readonly onlineSeries = [
    { label: $localize`vehicles`, color: '#1565c0' },
    { label: $localize`drivers`, color: '#c62828' },
    { label: $localize`viewers`, color: '#2e7d32' },
  ];
  protected readonly framesSeries = [
    { label: $localize`relayed`, color: '#2e7d32' },
    { label: $localize`dropped`, color: '#c62828' },
  ];
  protected readonly controlsSeries = [{ label: $localize`controls`, color: '#6a1b9a' }];
  protected readonly rttSeries = [
    { label: 'p50', color: '#1565c0' },
    { label: 'p99', color: '#ef6c00' },
  ];
  protected readonly sessionsSeries = [{ label: $localize`sessions`, color: '#1565c0' }];
  protected readonly failedSeries = [{ label: $localize`failed sign-ins`, color: '#c62828' }];

  private readonly series = (...pick: ((s: DashboardSample) => number | null)[]) =>
    computed(() => {
      const list = this.samples();
      return [list.map((s) => secs(s.at)), ...pick.map((f) => list.map(f))];
    });
  protected readonly online = this.series((s) => s.vehiclesOnline, (s) => s.drivers, (s) => s.viewers);
  protected readonly frames = this.series((s) => s.framesPerSec, (s) => s.droppedPerSec);
  protected readonly controls = this.series((s) => s.controlsPerSec);
  protected readonly rtt = this.series((s) => s.rttP50Ms, (s) => s.rttP99Ms);
  protected readonly sessions = computed(() => {
    const h = this.hourly();
    return h ? [h.hours.map(secs), h.sessions] : [[], []];
  });
  protected readonly failed = computed(() => {
    const h = this.hourly();
    return h ? [h.hours.map(secs), h.failedLogins] : [[], []];
  });

  constructor() {
    const off = [
      this.relay.on(DASHBOARD_EVENTS.sample, (s: DashboardSample) => this.samples.update((list) => [...list.slice(-(DASHBOARD_LIMITS.historyPoints - 1)), s])),
      this.relay.on(DASHBOARD_EVENTS.hourly, (h: DashboardHourly) => this.hourly.set(h)),
    ];
    // (Re)connected: start the feed; the ack brings the last minutes.
    effect(() => {
      if (this.relay.status() !== 'connected') return;
      untracked(() => void this.watch());
    });
    inject(DestroyRef).onDestroy(() => {
      off.forEach((f) => f());
      if (this.relay.connected) this.relay.emit(DASHBOARD_EVENTS.unwatch, {});
    });
  }

  private async watch(): Promise<void> {
    try {
      const ack = await this.relay.call<DashboardWatchAck | { ok: false; error: { message: string } }>(DASHBOARD_EVENTS.watch, {});
      if (!ack.ok) return this.toast.error(ack.error.message);
      this.samples.set(ack.samples);
      this.hourly.set(ack.hourly);
    } catch (err) {
      this.toast.error(err, $localize`Cannot start the dashboard`);
    }
  }
}
