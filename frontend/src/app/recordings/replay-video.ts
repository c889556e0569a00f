import { signal } from '@angular/core';
import { avcCodecOf, lastAtOrBefore, type Ms, type RecordingFile } from './recording-file';

/** Pictures fetched ahead of the cursor while playing, in ms of recording. */
const AHEAD_MS = 3000;
/** Fetch again when less than this is buffered ahead. */
const LOW_WATER_MS = 1500;

/**
 * The recording's video on a canvas, decoded in the browser from the file as recorded (H.264 through WebCodecs,
 * JPEG through createImageBitmap). Pictures are fetched by time window through the file's index; only a few seconds
 * are held. A seek decodes from the key frame at or before the target and draws the target frame.
 */
export class ReplayVideo {
  /** The log time (ms into the recording) of the frame on the canvas; null when none is. */
  readonly shownAt = signal<Ms | null>(null);
  readonly error = signal<string | null>(null);

  private decoder: VideoDecoder | null = null;
  private codecString: string | null = null;
  private pictures = new Map<number, Uint8Array>();
  /** The next frame to decode (H.264) or to draw (JPEG). */
  private next = 0;
  /** The highest frame index fetched or being fetched. */
  private fetchedTo = -1;
  private fetching = false;
  /** Bumped by every seek: work of an earlier position is dropped when it completes. */
  private generation = 0;
  /** The decoder was configured or flushed: it takes nothing but a key frame next. */
  private awaitingKey = true;
  /** H.264 after a seek: the decoder was flushed, so playing restarts it from this key frame. */
  private primeFrom: number | null = null;
  /** Decoded frames before this time only lead up to a seek target and are not drawn. */
  private drawFrom: Ms = 0;

  constructor(
    private readonly file: RecordingFile,
    private readonly canvas: () => HTMLCanvasElement | undefined,
  ) {}

  private get frames() {
    return this.file.timeline.frames;
  }

  /** Shows the frame at `t` (the last one at or before it). Resolves once it is drawn. */
  async seek(t: Ms): Promise<void> {
    const generation = ++this.generation;
    this.pictures.clear();
    this.fetching = false;
    const i = lastAtOrBefore(this.frames, t);
    this.next = i + 1;
    this.fetchedTo = i;
    if (i < 0) return this.blank();
    let k = i;
    while (k > 0 && !this.frames[k].key) k--;
    if (!this.frames[k].key) return this.blank();
    const last = Math.min(this.frames.length - 1, lastAtOrBefore(this.frames, t + AHEAD_MS));
    const pictures = await this.file.pictures(this.file.timeline.codec === 'jpeg' ? i : k, last);
    if (generation !== this.generation) return;
    this.fetchedTo = last;
    // H.264 keeps the group from its key frame: the flush below leaves the decoder wanting a key frame again.
    const keepFrom = this.file.timeline.codec === 'jpeg' ? i + 1 : k;
    for (const [n, p] of pictures) if (n >= keepFrom) this.pictures.set(n, p);
    this.primeFrom = null;
    try {
      if (this.file.timeline.codec === 'jpeg') await this.drawJpeg(pictures.get(i), i, generation);
      else {
        this.resetDecoder(pictures.get(k));
        this.drawFrom = this.frames[i].t;
        for (let n = k; n <= i; n++) this.decode(n, pictures.get(n));
        // Flushing shows the target frame now, but a flushed decoder takes only a key frame next: playing on from
        // here decodes the group again from its key frame (drawing from the target on).
        await this.decoder?.flush();
        if (generation === this.generation) {
          this.primeFrom = k;
          this.awaitingKey = true;
        }
      }
    } catch (err) {
      if (generation === this.generation) this.error.set(String(err));
    }
  }

  /**
   * Playing: decodes (or draws) every frame due by `t`. False when a due frame has not arrived yet: the clock waits
   * for it rather than skip ahead of what can be shown.
   */
  advance(t: Ms): boolean {
    this.prefetch(t);
    const frames = this.frames;
    if (this.file.timeline.codec === 'jpeg') {
      let due = -1;
      while (this.next < frames.length && frames[this.next].t <= t) {
        if (!this.pictures.has(this.next)) return false;
        due = this.next++;
      }
      if (due >= 0) {
        const picture = this.pictures.get(due);
        for (const n of [...this.pictures.keys()]) if (n <= due) this.pictures.delete(n);
        void this.drawJpeg(picture, due, this.generation);
      }
      return true;
    }
    if (this.primeFrom !== null) {
      for (let n = this.primeFrom; n < this.next; n++) if (!this.pictures.has(n)) return false;
      for (let n = this.primeFrom; n < this.next; n++) this.decode(n, this.pictures.get(n));
      for (const n of [...this.pictures.keys()]) if (n < this.next) this.pictures.delete(n);
      this.primeFrom = null;
    }
    while (this.next < frames.length && frames[this.next].t <= t) {
      const picture = this.pictures.get(this.next);
      if (!picture) return false;
      this.pictures.delete(this.next);
      this.decode(this.next++, picture);
    }
    return true;
  }

  close(): void {
    this.generation++;
    if (this.decoder?.state !== 'closed') this.decoder?.close();
    this.decoder = null;
  }

  private prefetch(t: Ms): void {
    const frames = this.frames;
    if (this.fetching || this.fetchedTo >= frames.length - 1) return;
    if (this.fetchedTo >= 0 && frames[this.fetchedTo].t > t + LOW_WATER_MS) return;
    const from = Math.max(this.fetchedTo + 1, this.next);
    const to = Math.max(from, lastAtOrBefore(frames, t + AHEAD_MS));
    const generation = this.generation;
    this.fetching = true;
    this.fetchedTo = to;
    this.file.pictures(from, to).then(
      (pictures) => {
        if (generation !== this.generation) return;
        this.fetching = false;
        for (const [n, p] of pictures) if (n >= this.next) this.pictures.set(n, p);
      },
      (err) => {
        if (generation !== this.generation) return;
        this.fetching = false;
        this.error.set(String(err));
      },
    );
  }

  private resetDecoder(key: Uint8Array | undefined): void {
    const codec = (key && avcCodecOf(key)) ?? this.codecString;
    if (!codec) throw new Error('no sequence parameter set before the key frame');
    if (!this.decoder || this.decoder.state === 'closed') {
      this.decoder = new VideoDecoder({
        output: (frame) => {
          const at = frame.timestamp / 1000;
          if (at >= this.drawFrom - 0.001) {
            const c = this.canvas();
            if (c) {
              if (c.width !== frame.displayWidth || c.height !== frame.displayHeight) [c.width, c.height] = [frame.displayWidth, frame.displayHeight];
              c.getContext('2d')?.drawImage(frame, 0, 0);
            }
            this.shownAt.set(at);
          }
          frame.close();
        },
        error: (e) => this.error.set(e.message),
      });
    } else this.decoder.reset();
    // No description: the recording holds Annex B, parameter sets in band.
    this.decoder.configure({ codec, optimizeForLatency: true });
    this.awaitingKey = true;
    this.codecString = codec;
  }

  private decode(n: number, picture: Uint8Array | undefined): void {
    if (!picture || !this.decoder || this.decoder.state !== 'configured') return;
    const f = this.frames[n];
    // A freshly configured decoder takes a key frame first; anything before one cannot be shown anyway.
    if (this.awaitingKey && !f.key) return;
    this.awaitingKey = false;
    this.decoder.decode(new EncodedVideoChunk({ type: f.key ? 'key' : 'delta', timestamp: Math.round(f.t * 1000), data: picture }));
  }

  private async drawJpeg(picture: Uint8Array | undefined, n: number, generation: number): Promise<void> {
    if (!picture) return;
    const bitmap = await createImageBitmap(new Blob([picture as Uint8Array<ArrayBuffer>], { type: 'image/jpeg' }));
    const c = this.canvas();
    if (generation === this.generation && c) {
      if (c.width !== bitmap.width || c.height !== bitmap.height) [c.width, c.height] = [bitmap.width, bitmap.height];
      c.getContext('2d')?.drawImage(bitmap, 0, 0);
      this.shownAt.set(this.frames[n].t);
    }
    bitmap.close();
  }

  private blank(): void {
    const c = this.canvas();
    c?.getContext('2d')?.clearRect(0, 0, c.width, c.height);
    this.shownAt.set(null);
  }
}
