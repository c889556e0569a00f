import { DatePipe } from '@angular/common';
import { HttpClient } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, computed, DestroyRef, effect, type ElementRef, inject, input, signal, viewChild } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatButtonToggleModule } from '@angular/material/button-toggle';
import { MatProgressBarModule } from '@angular/material/progress-bar';
import { RouterLink } from '@angular/router';
import type { RecordingView } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';
import { apiMessage } from '../auth/auth.service';
import { recordingEndName, recordingEventName } from '../i18n/messages';
import { lastAtOrBefore, RecordingFile, type Ms, type TracePoint } from './recording-file';
import { ReplayVideo } from './replay-video';

/** Points drawn per trace line at most: a long drive is reduced to this many by time buckets. */
const TRACE_POINTS = 1500;
const RATES = [0.5, 1, 2] as const;

/** `m:ss.mmm` of a position in the recording. */
export function clock(t: Ms | null): string {
  if (t === null) return '–';
  const ms = Math.max(0, Math.floor(t));
  const m = Math.floor(ms / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return `${m}:${String(s).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}`;
}

const fixed = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(2));

/** An SVG polyline of one control axis over the whole drive, x in 0..1000, y in 0..100 (1 at the top). */
function polyline(points: readonly TracePoint[], axis: 'throttle' | 'steer', duration: Ms): string {
  if (!points.length) return '';
  const step = Math.max(1, Math.ceil(points.length / TRACE_POINTS));
  const out: string[] = [];
  for (let i = 0; i < points.length; i += step) {
    const p = points[Math.min(points.length - 1, i + step - 1)];
    out.push(`${((p.t / (duration || 1)) * 1000).toFixed(1)},${(50 - p[axis] * 45).toFixed(1)}`);
  }
  return out.join(' ');
}

/**
 * Admins: replays one drive from its MCAP file, read in the browser by range requests (the index first, then the
 * timeline; pictures a few seconds ahead). Video on top; the throttle/steer trace under it with a moving cursor and the
 * safety events as markers; the values of the moment beside it. Seek, pause, 0.5×/1×/2×.
 */
@Component({
  selector: 'app-recording-player',
  imports: [DatePipe, RouterLink, MatButtonModule, MatButtonToggleModule, MatProgressBarModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <p><a mat-button routerLink="/recordings" i18n>← All recordings</a></p>
    @if (view(); as r) {
      <h1 i18n>{{ r.vehicleName }} driven by {{ r.driverName }}, {{ r.startedAt | date: 'medium' }}</h1>
    }
    @if (failure()) {
      <p role="alert" class="failure">{{ failure() }}</p>
    } @else if (!file()) {
      <p i18n>Reading the recording… {{ loaded() }} %</p>
      <mat-progress-bar mode="determinate" [value]="loaded()" aria-label="Reading the recording" i18n-aria-label />
    }
    <div class="player" [hidden]="!file()">
      <div class="stage">
        <canvas #screen role="img" aria-label="Recorded video" i18n-aria-label></canvas>
        @if (file() && !file()!.timeline.codec) {
          <p class="novideo" i18n>No video in this recording.</p>
        }
      </div>
      <section class="now" aria-label="At the cursor" i18n-aria-label>
        <dl>
          <dt i18n>Position</dt><dd aria-label="Position" i18n-aria-label>{{ clock(cursor()) }} / {{ clock(duration()) }}</dd>
          <dt i18n>Frame</dt><dd aria-label="Frame shown" i18n-aria-label>{{ clock(video()?.shownAt() ?? null) }}</dd>
          <dt i18n>Sent by the driver</dt><dd aria-label="Sent by the driver" i18n-aria-label>{{ sentText() }}</dd>
          <dt i18n>Forwarded to the vehicle</dt><dd aria-label="Forwarded to the vehicle" i18n-aria-label>{{ forwardedText() }}</dd>
          <dt i18n>Round trip</dt><dd aria-label="Round trip" i18n-aria-label>{{ rtt() }}</dd>
          <dt i18n>Last event</dt><dd aria-label="Last event" i18n-aria-label>{{ lastEvent() }}</dd>
        </dl>
        <h2 i18n>Telemetry</h2>
        @if (telemetry().length) {
          <dl aria-label="Telemetry at the cursor" i18n-aria-label>
            @for (kv of telemetry(); track kv[0]) {
              <dt>{{ kv[0] }}</dt><dd>{{ kv[1] }}</dd>
            }
          </dl>
        } @else {
          <p i18n>None yet.</p>
        }
      </section>
      <div class="controls">
        <button mat-flat-button type="button" (click)="toggle()" [disabled]="!file()">{{ playing() ? pauseText : playText }}</button>
        <mat-button-toggle-group [value]="rate()" (change)="rate.set($event.value)" aria-label="Speed" i18n-aria-label hideSingleSelectionIndicator>
          @for (r of rates; track r) {
            <mat-button-toggle [value]="r">{{ r }}×</mat-button-toggle>
          }
        </mat-button-toggle-group>
        <input class="seek" type="range" min="0" [max]="duration()" step="1" [value]="cursor()" (input)="seekInput($event)" aria-label="Seek" i18n-aria-label [disabled]="!file()" />
      </div>
      <figure class="trace">
        <svg viewBox="0 0 1000 100" preserveAspectRatio="none" role="img" aria-label="Throttle and steer over the drive" i18n-aria-label (click)="seekTrace($event)">
          @for (span of latched(); track $index) {
            <rect [attr.x]="x(span.from)" [attr.width]="x(span.to) - x(span.from)" y="0" height="100" class="latched" />
          }
          <line x1="0" x2="1000" y1="50" y2="50" class="zero" />
          @for (e of events(); track $index) {
            <line [attr.x1]="x(e.t)" [attr.x2]="x(e.t)" y1="0" y2="100" class="event" [class.estop]="e.kind === 'estop'" />
          }
          <polyline [attr.points]="throttleLine()" class="throttle" />
          <polyline [attr.points]="steerLine()" class="steer" />
          <line [attr.x1]="x(cursor())" [attr.x2]="x(cursor())" y1="0" y2="100" class="cursor" />
        </svg>
        <figcaption><span class="key throttle" i18n>throttle</span> <span class="key steer" i18n>steer</span> <span i18n>(−1 to 1, as the driver sent them)</span> <span class="key latched" i18n>E-STOP latched: nothing forwarded</span></figcaption>
      </figure>
      <nav class="markers" aria-label="Events" i18n-aria-label>
        @for (e of events(); track $index) {
          <button mat-stroked-button type="button" [class.estop]="e.kind === 'estop'" (click)="seek(e.t)">{{ clock(e.t) }} {{ eventName(e.kind) }}</button>
        }
      </nav>
      @if (video()?.error(); as err) {
        <p role="alert" class="failure" i18n>The video cannot be decoded here: {{ err }}</p>
      }
      @if (view(); as r) {
        <p class="meta"><ng-container i18n>Ended by: {{ endName(r.endReason) }}</ng-container> · <ng-container i18n>{{ readMiB() }} MiB transferred for a {{ fileMiB() }} MiB file</ng-container></p>
      }
    </div>
  `,
  styles: `
    h1 { margin: 0 0 8px; font-size: 1.3rem; }
    h2 { font-size: 1rem; margin: 12px 0 4px; }
    .player { display: grid; grid-template-columns: minmax(0, 3fr) minmax(220px, 1fr); gap: 12px 16px; align-items: start; }
    .stage { position: relative; background: #000; aspect-ratio: 4 / 3; }
    .stage canvas { width: 100%; height: 100%; object-fit: contain; display: block; }
    .novideo { position: absolute; inset: 0; display: grid; place-items: center; color: #fff; margin: 0; }
    .now dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 12px; margin: 0; }
    .now dt { opacity: .75; } .now dd { margin: 0; font-variant-numeric: tabular-nums; }
    .controls, .trace, .markers, .meta { grid-column: 1 / -1; }
    .controls { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; }
    .seek { flex: 1; min-width: 200px; accent-color: var(--mat-sys-primary); }
    .trace { margin: 0; }
    .trace svg { width: 100%; height: 120px; cursor: pointer; background: var(--mat-sys-surface-container); }
    polyline { fill: none; stroke-width: 2; vector-effect: non-scaling-stroke; }
    polyline.throttle { stroke: #1e88e5; } polyline.steer { stroke: #e65100; }
    .zero { stroke: var(--mat-sys-outline-variant); vector-effect: non-scaling-stroke; }
    .event { stroke: var(--mat-sys-outline); stroke-dasharray: 3 3; vector-effect: non-scaling-stroke; }
    .event.estop, button.estop { stroke: var(--mat-sys-error); color: var(--mat-sys-error); }
    .cursor { stroke: var(--mat-sys-on-surface); stroke-width: 2; vector-effect: non-scaling-stroke; }
    .key { margin-right: 12px; }
    .key::before { content: ''; display: inline-block; width: 14px; height: 3px; margin-right: 4px; vertical-align: middle; }
    .key.throttle::before { background: #1e88e5; } .key.steer::before { background: #e65100; }
    rect.latched, .key.latched::before { fill: var(--mat-sys-error); background: var(--mat-sys-error); opacity: .15; }
    .key.latched { margin-left: 12px; } .key.latched::before { height: 10px; opacity: .3; }
    .markers { display: flex; flex-wrap: wrap; gap: 6px; }
    .failure { color: var(--mat-sys-error); }
    @media (max-width: 700px) { .player { grid-template-columns: 1fr; } }
  `,
})
export class RecordingPlayerPage {
  /** The recording's id, from the route. */
  readonly id = input.required<string>();

  private readonly http = inject(HttpClient);
  private readonly screen = viewChild.required<ElementRef<HTMLCanvasElement>>('screen');
  protected readonly clock = clock;
  protected readonly eventName = recordingEventName;
  protected readonly endName = recordingEndName;
  protected readonly rates = RATES;
  protected readonly playText = $localize`Play`;
  protected readonly pauseText = $localize`Pause`;

  protected readonly view = signal<RecordingView | null>(null);
  protected readonly file = signal<RecordingFile | null>(null);
  protected readonly video = signal<ReplayVideo | null>(null);
  protected readonly failure = signal<string | null>(null);
  protected readonly loaded = signal(0);
  protected readonly cursor = signal<Ms>(0);
  protected readonly playing = signal(false);
  protected readonly rate = signal<number>(1);

  protected readonly duration = computed(() => this.file()?.timeline.duration ?? 0);
  protected readonly events = computed(() => this.file()?.timeline.events ?? []);
  /** The stretches of the drive with the e-stop latched (from E-STOP to its clearing, or the end). */
  protected readonly latched = computed(() => {
    const spans: { from: Ms; to: Ms }[] = [];
    let from: Ms | null = null;
    for (const e of this.events()) {
      if (e.kind === 'estop' && from === null) from = e.t;
      else if ((e.kind === 'estop-clear' || e.kind === 'end') && from !== null) {
        spans.push({ from, to: e.t });
        from = null;
      }
    }
    if (from !== null) spans.push({ from, to: this.duration() });
    return spans;
  });
  protected readonly throttleLine = computed(() => { const f = this.file(); return f ? polyline(f.timeline.received, 'throttle', f.timeline.duration) : ''; });
  protected readonly steerLine = computed(() => { const f = this.file(); return f ? polyline(f.timeline.received, 'steer', f.timeline.duration) : ''; });
  protected readonly sentText = computed(() => this.controlAt('received'));
  protected readonly forwardedText = computed(() => this.controlAt('forwarded'));
  protected readonly rtt = computed(() => {
    const acks = this.file()?.timeline.acks ?? [];
    const i = lastAtOrBefore(acks, this.cursor());
    return i < 0 ? '–' : `${acks[i].rttMs.toFixed(1)} ms`;
  });
  protected readonly lastEvent = computed(() => {
    const events = this.events();
    const i = lastAtOrBefore(events, this.cursor());
    if (i < 0) return '–';
    const e = events[i];
    return `${clock(e.t)} ${recordingEventName(e.kind)}${e.by ? ` (${e.by})` : ''}`;
  });
  protected readonly telemetry = computed(() => {
    const rows = this.file()?.timeline.telemetry ?? [];
    const i = lastAtOrBefore(rows, this.cursor());
    if (i < 0) return [];
    return Object.entries(rows[i].values).map(([k, v]) => [k, typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : typeof v === 'string' ? v : JSON.stringify(v)] as const);
  });
  protected readonly fileMiB = computed(() => ((this.view()?.bytes ?? 0) / 1048576).toFixed(1));
  protected readonly readMiB = computed(() => (this.cursor(), this.video()?.shownAt(), ((this.file()?.readable.fetched ?? 0) / 1048576).toFixed(1)));

  private frame = 0;
  private lastTick = 0;

  constructor() {
    const destroyRef = inject(DestroyRef);
    destroyRef.onDestroy(() => {
      cancelAnimationFrame(this.frame);
      this.video()?.close();
    });
    effect(() => void this.open(this.id()));
  }

  protected x(t: Ms): number {
    return (t / (this.duration() || 1)) * 1000;
  }

  protected toggle(): void {
    if (this.playing()) return this.pause();
    if (this.cursor() >= this.duration()) void this.seek(0);
    this.playing.set(true);
    this.lastTick = performance.now();
    this.frame = requestAnimationFrame((now) => this.tick(now));
  }

  /** Moves the cursor and shows that moment's frame; playing goes on from there. */
  async seek(t: Ms): Promise<void> {
    const to = Math.min(Math.max(0, t), this.duration());
    this.cursor.set(to);
    await this.video()?.seek(to);
  }

  protected seekInput(e: Event): void {
    void this.seek(Number((e.target as HTMLInputElement).value));
  }

  protected seekTrace(e: MouseEvent): void {
    const box = (e.currentTarget as SVGElement).getBoundingClientRect();
    void this.seek(((e.clientX - box.left) / box.width) * this.duration());
  }

  private pause(): void {
    this.playing.set(false);
    cancelAnimationFrame(this.frame);
  }

  private tick(now: number): void {
    if (!this.playing()) return;
    // A frame's timestamp may be a little older than the moment play was pressed.
    const elapsed = Math.max(0, now - this.lastTick) * this.rate();
    this.lastTick = now;
    const next = Math.min(this.duration(), this.cursor() + elapsed);
    // The clock waits while a due picture is still on its way.
    if (this.video()?.advance(next) ?? true) this.cursor.set(next);
    if (next >= this.duration()) return this.pause();
    this.frame = requestAnimationFrame((n) => this.tick(n));
  }

  private controlAt(which: 'received' | 'forwarded'): string {
    const points = this.file()?.timeline[which] ?? [];
    const i = lastAtOrBefore(points, this.cursor());
    const p = points[i];
    return i < 0 ? '–' : $localize`throttle ${fixed(p.throttle)}:throttle: · steer ${fixed(p.steer)}:steer:`;
  }

  private async open(id: string): Promise<void> {
    try {
      const view = await firstValueFrom(this.http.get<RecordingView>(`/api/recordings/${id}`));
      this.view.set(view);
      if (view.endedAt === null) return this.failure.set($localize`This drive is still being recorded; it can be replayed once it has ended.`);
      const file = await RecordingFile.open(this.http, `/api/recordings/${id}/file`, (f) => this.loaded.set(Math.round(f * 100)));
      const video = new ReplayVideo(file, () => this.screen().nativeElement);
      this.file.set(file);
      this.video.set(video);
      await this.seek(0);
    } catch (err) {
      this.failure.set(apiMessage(err, $localize`Cannot read the recording`));
    }
  }
}
