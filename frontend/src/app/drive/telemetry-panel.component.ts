import { DecimalPipe } from '@angular/common';
import { afterNextRender, ChangeDetectionStrategy, Component, computed, DestroyRef, effect, type ElementRef, inject, signal, viewChild } from '@angular/core';
import uPlot from 'uplot';
import { DriveSession } from './drive-session';

const WINDOW_S = 60;
const SAMPLE_MS = 500;
const TRAIL_MAX = 600;
const BATTERY_LOW = 20;

interface Series {
  t: number[];
  v: (number | null)[];
}

/**
 * What the selected vehicle reports and how the link behaves: e-stop state, heading, battery, the last command, the
 * control round trip and the video latency over the last minute (uPlot), and the x/y trail from telemetry.
 */
@Component({
  selector: 'app-telemetry-panel',
  imports: [DecimalPipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="panel" aria-labelledby="telemetry-title">
      <h3 id="telemetry-title" i18n>Telemetry</h3>
      @if (estopped()) {
        <p class="estop-state" role="status" i18n>E-STOP is latched — the car is held at zero</p>
      }
      <div class="gauges">
        <figure class="compass">
          <svg viewBox="-50 -50 100 100" width="96" height="96" role="img" [attr.aria-label]="headingLabel()">
            <circle r="46" class="dial" />
            <text y="-32" text-anchor="middle" dominant-baseline="middle" i18n="compass: north">N</text>
            <text x="34" text-anchor="middle" dominant-baseline="middle" i18n="compass: east">E</text>
            <text y="34" text-anchor="middle" dominant-baseline="middle" i18n="compass: south">S</text>
            <text x="-34" text-anchor="middle" dominant-baseline="middle" i18n="compass: west">W</text>
            <g [attr.transform]="'rotate(' + heading() + ')'">
              <polygon points="0,-30 6,4 -6,4" class="needle" />
              <polygon points="0,22 6,4 -6,4" class="tail" />
            </g>
          </svg>
          <figcaption>{{ heading() | number: '1.0-0' }}°</figcaption>
        </figure>
        <div class="battery" [class.low]="batteryLow()">
          <span class="k" id="battery-label" i18n>Battery</span>
          <meter min="0" max="100" [attr.low]="batteryLowAt" high="50" optimum="100" [value]="battery() ?? 0" aria-labelledby="battery-label"></meter>
          <span>{{ battery() === null ? '–' : (battery()! | number: '1.0-0') + ' %' }}</span>
          @if (batteryLow()) {
            <strong role="status" i18n>Low battery</strong>
          }
        </div>
        <div class="cmd">
          <span class="k" i18n>Last command</span>
          <span i18n>throttle {{ session.command().throttle | number: '1.2-2' }}</span>
          <span i18n>steer {{ session.command().steer | number: '1.2-2' }}</span>
        </div>
      </div>
      <div class="charts">
        <figure>
          <figcaption i18n>Control RTT, ms (last 60 s)</figcaption>
          <div #rtt class="chart" data-testid="rtt-chart" [attr.data-points]="rttPoints()"></div>
        </figure>
        <figure>
          <figcaption i18n>Video latency, ms (last 60 s)</figcaption>
          <div #latency class="chart" data-testid="latency-chart" [attr.data-points]="latencyPoints()"></div>
        </figure>
        <figure class="trail">
          <figcaption i18n>Trail (x/y from telemetry)</figcaption>
          <svg viewBox="0 0 200 200" role="img" [attr.aria-label]="trailLabel()" [attr.data-points]="trail().length">
            <rect width="200" height="200" class="ground" />
            <polyline [attr.points]="trailPath()" class="path" />
            @if (here(); as p) {
              <circle [attr.cx]="p[0]" [attr.cy]="p[1]" r="4" class="here" />
            }
          </svg>
        </figure>
      </div>
    </section>
  `,
  styles: `
    .panel { display: flex; flex-direction: column; gap: 8px; border-top: 1px solid var(--mat-sys-outline-variant); padding-top: 8px; }
    h3 { margin: 0; font-size: 1rem; }
    .estop-state { margin: 0; padding: 10px 14px; border-radius: 8px; background: #c62828; color: #fff; font-weight: 700; font-size: 1.1rem; border: 3px solid #ffeb3b; }
    .gauges { display: flex; flex-wrap: wrap; gap: 16px; align-items: center; }
    figure { margin: 0; }
    .compass { display: flex; flex-direction: column; align-items: center; }
    .dial { fill: var(--mat-sys-surface-container-high); stroke: var(--mat-sys-outline); stroke-width: 2; }
    .compass text { font-size: 11px; fill: var(--mat-sys-on-surface); }
    .needle { fill: #c62828; }
    .tail { fill: var(--mat-sys-outline); }
    .battery, .cmd { display: flex; flex-direction: column; gap: 4px; min-width: 120px; }
    .battery.low strong { color: var(--mat-sys-error); }
    .k { font-size: 0.8rem; opacity: 0.8; }
    .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 12px; }
    figcaption { font-size: 0.8rem; opacity: 0.8; }
    .chart { width: 100%; min-height: 140px; }
    .trail svg { width: 100%; max-width: 200px; height: auto; }
    .ground { fill: var(--mat-sys-surface-container); }
    .path { fill: none; stroke: var(--mat-sys-primary); stroke-width: 2; }
    .here { fill: #c62828; }
  `,
})
export class TelemetryPanelComponent {
  protected readonly session = inject(DriveSession);
  protected readonly batteryLowAt = BATTERY_LOW;
  private readonly rttHost = viewChild.required<ElementRef<HTMLElement>>('rtt');
  private readonly latencyHost = viewChild.required<ElementRef<HTMLElement>>('latency');

  protected readonly estopped = computed(() => this.session.selected()?.estopped ?? false);
  protected readonly heading = computed(() => num(this.session.telemetry()?.heading) ?? 0);
  protected readonly battery = computed(() => num(this.session.telemetry()?.battery));
  // SVG elements take their names as attributes: worded here.
  protected readonly headingLabel = computed(() => $localize`Heading ${Math.round(this.heading())}:degrees: degrees`);
  protected readonly trailLabel = computed(() => $localize`Trail of ${this.trail().length}:count: positions`);
  protected readonly batteryLow = computed(() => (this.battery() ?? 100) < BATTERY_LOW);

  private readonly rtt: Series = { t: [], v: [] };
  private readonly latency: Series = { t: [], v: [] };
  protected readonly rttPoints = signal(0);
  protected readonly latencyPoints = signal(0);

  protected readonly trail = signal<[number, number][]>([]);
  private readonly box = computed(() => {
    const pts = this.trail();
    if (!pts.length) return null;
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of pts) [minX, minY, maxX, maxY] = [Math.min(minX, x), Math.min(minY, y), Math.max(maxX, x), Math.max(maxY, y)];
    // Square, with room around it, at least 10 m across: a car standing still is a dot, not a zoomed-in blur.
    const span = Math.max(10, maxX - minX, maxY - minY) * 1.2;
    return { cx: (minX + maxX) / 2, cy: (minY + maxY) / 2, span };
  });
  private readonly project = (x: number, y: number): [number, number] => {
    const b = this.box()!;
    return [100 + ((x - b.cx) / b.span) * 200, 100 - ((y - b.cy) / b.span) * 200];
  };
  protected readonly trailPath = computed(() => (this.box() ? this.trail().map(([x, y]) => this.project(x, y).map((n) => n.toFixed(1)).join(',')).join(' ') : ''));
  protected readonly here = computed(() => {
    const last = this.trail().at(-1);
    return last && this.box() ? this.project(last[0], last[1]) : null;
  });

  constructor() {
    effect(() => {
      const t = this.session.telemetry();
      const x = num(t?.x);
      const y = num(t?.y);
      if (x === null || y === null) return;
      this.trail.update((list) => {
        const last = list.at(-1);
        if (last && last[0] === x && last[1] === y) return list;
        return [...list.slice(-(TRAIL_MAX - 1)), [x, y]];
      });
    });
    // Another vehicle: a new trail and new plots.
    effect(() => {
      this.session.selectedId();
      this.trail.set([]);
      for (const s of [this.rtt, this.latency]) s.t.length = s.v.length = 0;
    });

    const destroyRef = inject(DestroyRef);
    afterNextRender(() => {
      const plots = [
        { host: this.rttHost().nativeElement, series: this.rtt, read: () => this.session.rttMs(), points: this.rttPoints, label: 'RTT' },
        { host: this.latencyHost().nativeElement, series: this.latency, read: () => this.session.videoLatencyMs(), points: this.latencyPoints, label: 'latency' },
      ].map((p) => ({ ...p, plot: new uPlot(options(p.label, p.host.clientWidth), [[], []], p.host) }));
      const timer = setInterval(() => {
        const now = Date.now() / 1000;
        for (const p of plots) {
          const s = p.series;
          s.t.push(now);
          s.v.push(p.read());
          while (s.t.length && s.t[0] < now - WINDOW_S) {
            s.t.shift();
            s.v.shift();
          }
          p.plot.setData([s.t, s.v]);
          p.points.set(s.v.filter((v) => v !== null).length);
        }
      }, SAMPLE_MS);
      const resize = new ResizeObserver(() => plots.forEach((p) => p.plot.setSize({ width: p.host.clientWidth, height: 140 })));
      plots.forEach((p) => resize.observe(p.host));
      destroyRef.onDestroy(() => {
        clearInterval(timer);
        resize.disconnect();
        plots.forEach((p) => p.plot.destroy());
      });
    });
  }
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function options(label: string, width: number): uPlot.Options {
  const ink = getComputedStyle(document.body).color;
  return {
    width: Math.max(200, width),
    height: 140,
    legend: { show: false },
    cursor: { show: false },
    scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(10, (max ?? 0) * 1.2, (min ?? 0) + 10)] } },
    axes: [
      { stroke: ink, grid: { stroke: 'rgba(128,128,128,0.2)' }, ticks: { stroke: 'rgba(128,128,128,0.4)' } },
      { stroke: ink, grid: { stroke: 'rgba(128,128,128,0.2)' }, ticks: { stroke: 'rgba(128,128,128,0.4)' }, size: 44 },
    ],
    series: [{}, { label, stroke: '#2e7d32', width: 2, spanGaps: false }],
  };
}
