import { ChangeDetectionStrategy, Component, DestroyRef, type ElementRef, inject, input, signal, viewChild } from '@angular/core';
import { RELAY_EVENTS as EV, FrameAcker, type H264Config, type RelayedFrameMeta } from '@vicer/protocol';
import { RelaySocketService } from '../relay/relay-socket.service';
import { DriveSession } from './drive-session';

const NO_SIGNAL_MS = 2000;

const base64Bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

/**
 * Draws a vehicle's frames as they arrive, H.264 through WebCodecs or JPEG, and acknowledges each drawn frame —
 * which is what earns the next ones. JPEG: no queue, the newest waiting frame wins. H.264: every frame is decoded in
 * order (a P-frame needs the ones before it); after a gap the relay starts this viewer again from a key frame.
 * The overlay shows the codec, fps, bitrate and glass-to-glass latency in server time.
 */
@Component({
  selector: 'app-video-panel',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <div class="frame">
      <canvas #canvas aria-label="Live video" i18n-aria-label role="img" width="640" height="480"></canvas>
      <div class="overlay" aria-label="Video stats" i18n-aria-label i18n>{{ codec() }} · {{ fps() }} fps · {{ kbps() }} kb/s · {{ latency() ?? '–' }} ms · {{ dropped() }} dropped</div>
      @if (noSignal()) {
        <div class="no-signal" role="status" i18n>No signal</div>
      }
    </div>
  `,
  styles: `
    .frame { position: relative; background: #000; border-radius: 8px; overflow: hidden; aspect-ratio: 4 / 3; max-height: 70vh; }
    canvas { width: 100%; height: 100%; object-fit: contain; display: block; }
    .overlay { position: absolute; top: 8px; right: 8px; background: rgba(0,0,0,.6); color: #fff; font: 12px/1.4 monospace, 'Noto Sans KR'; padding: 2px 6px; border-radius: 4px; }
    .no-signal { position: absolute; inset: 0; display: grid; place-items: center; color: #fff; font-size: 1.5rem; background: rgba(0,0,0,.7); }
  `,
})
export class VideoPanelComponent {
  readonly vehicleId = input.required<string>();
  readonly online = input(false);
  private readonly relay = inject(RelaySocketService);
  private readonly session = inject(DriveSession, { optional: true });
  private readonly canvas = viewChild.required<ElementRef<HTMLCanvasElement>>('canvas');

  protected readonly codec = signal<string>('–');
  protected readonly fps = signal(0);
  protected readonly kbps = signal(0);
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
  private bytes = 0;
  private decoder: VideoDecoder | null = null;
  private decoderConfig: H264Config | null = null;
  /** H.264 frames handed to the decoder and not yet output: seq → meta. */
  private readonly inDecoder = new Map<number, RelayedFrameMeta>();
  private needKey = true;
  private readonly acker = new FrameAcker((ack) => this.relay.sendFrameAck(ack));

  constructor() {
    const off = this.relay.on(EV.frame, (meta: RelayedFrameMeta, bytes: ArrayBuffer) => this.onFrame(meta, bytes));
    const tick = setInterval(() => {
      this.now.set(Date.now());
      this.fps.set(this.drawn * 2);
      this.kbps.set(Math.round((this.bytes * 2 * 8) / 1000));
      this.drawn = 0;
      this.bytes = 0;
    }, 500);
    inject(DestroyRef).onDestroy(() => {
      off();
      clearInterval(tick);
      this.acker.stop();
      this.closeDecoder();
    });
  }

  private onFrame(meta: RelayedFrameMeta, bytes: ArrayBuffer): void {
    if (meta.vehicleId !== this.vehicleId()) return;
    this.bytes += bytes.byteLength;
    this.codec.set(meta.codec === 'h264' ? 'H.264' : 'JPEG');
    if (meta.codec === 'h264') return this.decodeH264(meta, bytes);
    if (this.decoding) {
      if (this.waiting) this.dropped.update((d) => d + 1);
      this.waiting = { meta, bytes }; // newest wins
      return;
    }
    void this.drawJpeg(meta, bytes);
  }

  private decodeH264(meta: Extract<RelayedFrameMeta, { codec: 'h264' }>, bytes: ArrayBuffer): void {
    if (meta.key && meta.config && (meta.config.codec !== this.decoderConfig?.codec || meta.config.description !== this.decoderConfig?.description || !this.decoder)) {
      this.openDecoder(meta.config);
    }
    if (!this.decoder || (this.needKey && !meta.key)) {
      // Nothing it could decode: acknowledged so the relay keeps the credit flowing (it resends a key frame).
      this.dropped.update((d) => d + 1);
      this.ack(meta);
      return;
    }
    this.needKey = false;
    this.inDecoder.set(meta.seq, meta);
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: meta.key ? 'key' : 'delta', timestamp: meta.seq, data: bytes }));
    } catch {
      this.inDecoder.delete(meta.seq);
      this.ack(meta);
      this.resetDecoder();
    }
  }

  private openDecoder(config: H264Config): void {
    this.closeDecoder();
    this.decoder = new VideoDecoder({
      output: (frame) => this.drawDecoded(frame),
      error: () => this.resetDecoder(),
    });
    this.decoder.configure({ codec: config.codec, description: base64Bytes(config.description), optimizeForLatency: true });
    this.decoderConfig = config;
    this.needKey = true;
  }

  private drawDecoded(frame: VideoFrame): void {
    const meta = this.inDecoder.get(frame.timestamp);
    this.inDecoder.delete(frame.timestamp);
    try {
      const c = this.canvas().nativeElement;
      if (c.width !== frame.displayWidth || c.height !== frame.displayHeight) {
        c.width = frame.displayWidth;
        c.height = frame.displayHeight;
      }
      c.getContext('2d')?.drawImage(frame, 0, 0);
      this.shown(meta);
    } finally {
      frame.close();
      if (meta) this.ack(meta);
    }
  }

  /** A decoder error: everything in it is lost; the next key frame starts again. */
  private resetDecoder(): void {
    for (const meta of this.inDecoder.values()) this.ack(meta);
    this.inDecoder.clear();
    this.dropped.update((d) => d + 1);
    const config = this.decoderConfig;
    this.closeDecoder();
    if (config) this.openDecoder(config);
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = null;
  }

  private async drawJpeg(meta: RelayedFrameMeta, bytes: ArrayBuffer): Promise<void> {
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
      this.shown(meta);
    } catch {
      this.dropped.update((d) => d + 1);
    } finally {
      this.ack(meta);
      this.decoding = false;
      const next = this.waiting;
      this.waiting = null;
      if (next && next.meta.vehicleId === this.vehicleId()) void this.drawJpeg(next.meta, next.bytes);
    }
  }

  private shown(meta: RelayedFrameMeta | undefined): void {
    this.drawn++;
    const now = Date.now();
    this.lastFrameAt.set(now);
    this.session?.videoDrawn(now);
    if (!meta) return;
    const drawnAt = this.relay.serverNow();
    this.latency.set(Math.max(0, Math.round(drawnAt - meta.capturedAt)));
    this.session?.videoLatencyMs.set(this.latency());
    // For benches and tests reading the picture back (bench/video.bench.ts): when, in server time, this frame showed.
    this.canvas().nativeElement.dispatchEvent(new CustomEvent('framedrawn', { detail: { codec: meta.codec, seq: meta.seq, capturedAt: meta.capturedAt, drawnAt } }));
  }

  private ack(meta: RelayedFrameMeta): void {
    this.acker.drawn(meta.codec, meta.vehicleId, meta.seq);
  }
}

