import { ChangeDetectionStrategy, Component, DestroyRef, type ElementRef, inject, input, signal, viewChild } from '@angular/core';
import { RELAY_EVENTS as EV, type RelayedFrameMeta } from '@vicer/protocol';
import { RelaySocketService } from '../relay/relay-socket.service';

const NO_SIGNAL_MS = 2000;

/**
 * Draws a vehicle's frames as they arrive. No queue: while one frame decodes, only the newest waiting one is kept
 * (the others count as dropped). Each drawn frame is acknowledged, which is what earns the next ones.
 */
@Component({
  selector: 'app-video-panel',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div class="frame">
      <canvas #canvas aria-label="Live video" role="img" width="640" height="480"></canvas>
      <div class="overlay" aria-label="Video stats">{{ fps() }} fps · {{ latency() ?? '–' }} ms · {{ dropped() }} dropped</div>
      @if (noSignal()) {
        <div class="no-signal" role="status">No signal</div>
      }
    </div>
  `,
  styles: `
    .frame { position: relative; background: #000; border-radius: 8px; overflow: hidden; aspect-ratio: 4 / 3; max-height: 70vh; }
    canvas { width: 100%; height: 100%; object-fit: contain; display: block; }
    .overlay { position: absolute; top: 8px; right: 8px; background: rgba(0,0,0,.6); color: #fff; font: 12px/1.4 monospace; padding: 2px 6px; border-radius: 4px; }
    .no-signal { position: absolute; inset: 0; display: grid; place-items: center; color: #fff; font-size: 1.5rem; background: rgba(0,0,0,.7); }
  `,
})
export class VideoPanelComponent {
  readonly vehicleId = input.required<string>();
  readonly online = input(false);
  private readonly relay = inject(RelaySocketService);
  private readonly canvas = viewChild.required<ElementRef<HTMLCanvasElement>>('canvas');

  protected readonly fps = signal(0);
  protected readonly latency = signal<number | null>(null);
  protected readonly dropped = signal(0);
  private readonly lastFrameAt = signal(0);
  private readonly now = signal(Date.now());
  protected noSignal(): boolean {
    return !this.online() || this.now() - this.lastFrameAt() > NO_SIGNAL_MS;
  }

  private decoding = false;
  private waiting: { meta: RelayedFrameMeta; bytes: ArrayBuffer } | null = null;
  private drawn = 0;

  constructor() {
    const off = this.relay.on(EV.frame, (meta: RelayedFrameMeta, bytes: ArrayBuffer) => this.onFrame(meta, bytes));
    const tick = setInterval(() => {
      this.now.set(Date.now());
      this.fps.set(this.drawn * 2);
      this.drawn = 0;
    }, 500);
    inject(DestroyRef).onDestroy(() => {
      off();
      clearInterval(tick);
    });
  }

  private onFrame(meta: RelayedFrameMeta, bytes: ArrayBuffer): void {
    if (meta.vehicleId !== this.vehicleId()) return;
    if (this.decoding) {
      if (this.waiting) this.dropped.update((d) => d + 1);
      this.waiting = { meta, bytes }; // newest wins
      return;
    }
    void this.draw(meta, bytes);
  }

  private async draw(meta: RelayedFrameMeta, bytes: ArrayBuffer): Promise<void> {
    this.decoding = true;
    try {
      const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
      const c = this.canvas().nativeElement;
      if (c.width !== bitmap.width || c.height !== bitmap.height) {
        c.width = bitmap.width;
        c.height = bitmap.height;
      }
      c.getContext('2d')?.drawImage(bitmap, 0, 0);
      bitmap.close();
      this.drawn++;
      this.lastFrameAt.set(Date.now());
      this.latency.set(Math.max(0, Date.now() - meta.capturedAt));
    } catch {
      this.dropped.update((d) => d + 1);
    } finally {
      this.relay.emit(EV.frameAck, { vehicleId: meta.vehicleId, seq: meta.seq });
      this.decoding = false;
      const next = this.waiting;
      this.waiting = null;
      if (next && next.meta.vehicleId === this.vehicleId()) void this.draw(next.meta, next.bytes);
    }
  }
}
