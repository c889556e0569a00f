import { afterNextRender, ChangeDetectionStrategy, Component, DestroyRef, effect, type ElementRef, inject, input, viewChild } from '@angular/core';
import uPlot from 'uplot';

export interface ChartSeries {
  label: string;
  color: string;
}

/**
 * A small uPlot chart: time on x (seconds), one line per series — or bars, for counts per hour. The caption and the
 * legend are HTML (readable by screen readers); `data-points` says how many points are drawn, for tests.
 */
@Component({
  selector: 'app-time-chart',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <figure>
      <figcaption>
        <span class="title">{{ caption() }}</span>
        @for (s of series(); track s.label) {
          <span class="key"><span class="swatch" [style.background]="s.color"></span>{{ s.label }}</span>
        }
      </figcaption>
      <div #host class="chart" [attr.data-points]="points()"></div>
    </figure>
  `,
  styles: `
    figure { margin: 0; min-width: 0; }
    figcaption { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center; font-size: 0.85rem; margin-bottom: 4px; }
    .title { font-weight: 500; }
    .key { display: inline-flex; align-items: center; gap: 4px; }
    .swatch { width: 12px; height: 3px; display: inline-block; }
    .chart { width: 100%; min-height: 160px; }
  `,
})
export class TimeChartComponent {
  readonly caption = input.required<string>();
  readonly series = input.required<ChartSeries[]>();
  /** [x (epoch seconds), ...one array per series]. */
  readonly data = input.required<(number | null)[][]>();
  readonly bars = input(false);
  protected readonly points = () => this.data()[0]?.length ?? 0;
  private readonly host = viewChild.required<ElementRef<HTMLElement>>('host');

  constructor() {
    let plot: uPlot | null = null;
    effect(() => {
      const data = this.data() as uPlot.AlignedData;
      plot?.setData(data);
    });
    const destroyRef = inject(DestroyRef);
    afterNextRender(() => {
      const host = this.host().nativeElement;
      plot = new uPlot(this.options(host.clientWidth), this.data() as uPlot.AlignedData, host);
      const resize = new ResizeObserver(() => plot?.setSize({ width: Math.max(200, host.clientWidth), height: 160 }));
      resize.observe(host);
      destroyRef.onDestroy(() => {
        resize.disconnect();
        plot?.destroy();
        plot = null;
      });
    });
  }

  private options(width: number): uPlot.Options {
    const ink = getComputedStyle(document.body).color;
    const axis = { stroke: ink, grid: { stroke: 'rgba(128,128,128,0.2)' }, ticks: { stroke: 'rgba(128,128,128,0.4)' } };
    const bars = this.bars() ? uPlot.paths.bars!({ size: [0.7, 40] }) : undefined;
    return {
      width: Math.max(200, width),
      height: 160,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true, range: this.bars() ? (_u, min, max) => [min - 1800, max + 1800] : undefined }, y: { range: (_u, _min, max) => [0, Math.max(this.bars() ? 4 : 1, (max ?? 0) * 1.2)] } },
      axes: [axis, { ...axis, size: 48 }],
      series: [{}, ...this.series().map((s) => ({ label: s.label, stroke: s.color, fill: bars ? s.color : undefined, width: 2, paths: bars, points: { show: false }, spanGaps: false }))],
    };
  }
}
