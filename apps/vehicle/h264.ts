import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { H264Config } from '../../backend/src/protocol/index.js';

/** Whether this machine's ffmpeg can encode H.264 (libx264). */
export function hasLibx264(): boolean {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-encoders'], { encoding: 'utf8' });
  return r.status === 0 && /\blibx264\b/.test(r.stdout);
}

export interface EncodedFrame {
  /** One access unit in AVC format: NAL units, each after its 4-byte big-endian length. */
  au: Buffer;
  key: boolean;
  /** The decoder configuration, on key frames. */
  config?: H264Config;
  capturedAt: number;
}

export interface H264Options {
  width: number;
  height: number;
  fps: number;
  /** Target bitrate, e.g. 800k. */
  bitrate: string;
  /** The raw frames handed to encode(): RGBA (the simulator's canvas) or yuv420p (decoded by ffmpeg). */
  pixelFormat: 'rgba' | 'yuv420p';
  /** Seconds between key frames. */
  keyframeSeconds?: number;
}

/**
 * Splits ffmpeg's FLV output into video tags. FLV frames every tag with its size, so each access unit is handed on as
 * soon as ffmpeg writes it (no waiting for the next one to find where this one ends), and it carries the key-frame
 * flag and the avcC configuration record that WebCodecs takes as the decoder description.
 */
export class FlvReader {
  private buf: Buffer = Buffer.alloc(0);
  private headerLeft = 13;
  config: H264Config | null = null;

  push(chunk: Buffer, onFrame: (au: Buffer, key: boolean) => void): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.headerLeft) {
      const skip = Math.min(this.headerLeft, this.buf.length);
      this.buf = this.buf.subarray(skip);
      this.headerLeft -= skip;
    }
    while (this.buf.length >= 11) {
      const size = this.buf.readUIntBE(1, 3);
      if (this.buf.length < 11 + size + 4) break;
      const type = this.buf[0];
      const data = this.buf.subarray(11, 11 + size);
      this.buf = this.buf.subarray(11 + size + 4);
      // Video tag, codec 7 (AVC): AVCPacketType 0 is the configuration record, 1 a frame.
      if (type !== 9 || (data[0] & 0x0f) !== 7 || data.length < 5) continue;
      if (data[1] === 0) this.config = avcConfig(data.subarray(5));
      else if (data[1] === 1) onFrame(Buffer.from(data.subarray(5)), data[0] >> 4 === 1);
    }
  }
}

/** The codec string (avc1.PPCCLL from the SPS's profile, constraint flags and level) and the record itself. */
export function avcConfig(record: Buffer): H264Config {
  const hex = (n: number) => n.toString(16).padStart(2, '0').toUpperCase();
  return { codec: `avc1.${hex(record[1])}${hex(record[2])}${hex(record[3])}`, description: record.toString('base64') };
}

/**
 * H.264 encoding with Debian's ffmpeg (libx264: ultrafast, zero latency, no B-frames, a key frame every 2 s, a
 * target bitrate). Raw frames go in; access units come out in order, each matched to its capture time.
 *
 * A key frame on request: libx264 cannot be told to make one while it runs, so a second encoder starts on the same
 * frames; its stream begins with a key frame, and the agent switches to it at that frame and stops the first — the
 * picture does not pause and the decoder sees a normal key frame.
 */
export class H264Encoder {
  private current: EncoderProcess;
  /** The encoder being replaced: it finishes the frames it was given, then stops. */
  private draining: EncoderProcess | null = null;
  private stopped = false;

  constructor(private readonly opts: H264Options, private readonly onFrame: (f: EncodedFrame) => void, private readonly onFail: (why: string) => void) {
    this.current = this.spawn();
  }

  encode(raw: Buffer, capturedAt: number): void {
    if (this.stopped) return;
    this.current.write(raw, capturedAt);
  }

  /**
   * The next frame becomes a key frame: a fresh encoder (whose stream starts with one) takes every frame from now
   * on, while the one it replaces finishes those it was given. No frame is lost or sent twice, and capture times
   * stay in order; the fresh encoder's start-up shows as a short delay of a few frames.
   */
  requestKeyframe(): void {
    if (this.stopped || this.draining) return;
    this.draining = this.current;
    this.current = this.spawn();
    this.draining.finish(() => {
      this.draining = null;
      this.current.release(this.onFrame);
    });
  }

  stop(): void {
    this.stopped = true;
    this.current.kill();
    this.draining?.kill();
  }

  private spawn(): EncoderProcess {
    const p: EncoderProcess = new EncoderProcess(
      this.opts,
      (f) => {
        // The replaced encoder's last frames go out before the new one's first (its key frame).
        if (p === this.current && this.draining) p.hold(f);
        else this.onFrame(f);
      },
      (why) => {
        if (p === this.current && !this.stopped) this.onFail(why);
      },
    );
    return p;
  }
}

class EncoderProcess {
  private readonly child: ChildProcess;
  private readonly reader = new FlvReader();
  /** Capture times of the frames written and not yet encoded (no B-frames: they come out in order). */
  private readonly times: number[] = [];
  private dead = false;
  private stderr = '';

  constructor(opts: H264Options, onFrame: (f: EncodedFrame) => void, onExit: (why: string) => void) {
    const gop = Math.round((opts.keyframeSeconds ?? 2) * opts.fps);
    const args = [
      '-hide_banner', '-loglevel', 'error',
      '-f', 'rawvideo', '-pix_fmt', opts.pixelFormat, '-s', `${opts.width}x${opts.height}`, '-r', String(opts.fps), '-i', 'pipe:0',
      '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
      '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0',
      '-b:v', opts.bitrate, '-maxrate', opts.bitrate, '-bufsize', opts.bitrate,
      '-flush_packets', '1', '-f', 'flv', '-flvflags', 'no_duration_filesize', 'pipe:1',
    ];
    this.child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) =>
      this.reader.push(chunk, (au, key) => {
        const capturedAt = this.times.shift() ?? Date.now();
        onFrame({ au, key, config: key ? (this.reader.config ?? undefined) : undefined, capturedAt });
        if (this.onDrained && !this.times.length) this.end();
      }),
    );
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    this.child.stdin!.on('error', () => undefined);
    this.child.on('error', (err) => ((this.dead = true), onExit(`cannot run ffmpeg: ${err.message}`)));
    this.child.on('exit', (code) => {
      this.dead = true;
      onExit(`ffmpeg (H.264 encoder) ended (code ${code}): ${this.stderr.trim() || 'no output'}`);
    });
  }

  private held: EncodedFrame[] = [];
  private onDrained: (() => void) | null = null;

  /** Still has frames to output. */
  get busy(): boolean {
    return !this.dead && this.times.length > 0;
  }

  /** Takes no more frames; stops once the ones it has are out. */
  finish(done: () => void): void {
    this.onDrained = done;
    if (!this.times.length) this.end();
  }

  hold(f: EncodedFrame): void {
    this.held.push(f);
  }

  release(emit: (f: EncodedFrame) => void): void {
    for (const f of this.held.splice(0)) emit(f);
  }

  private end(): void {
    this.kill();
    const done = this.onDrained;
    this.onDrained = null;
    done?.();
  }

  write(raw: Buffer, capturedAt: number): void {
    if (this.dead) return;
    // An encoder that falls behind drops frames here rather than queueing them: latest wins.
    if (this.child.stdin!.writableLength > raw.length * 2) return;
    this.times.push(capturedAt);
    this.child.stdin!.write(raw);
  }

  kill(): void {
    this.dead = true;
    this.child.kill('SIGKILL');
  }
}

/**
 * An access unit in Annex B (start codes), what ffmpeg and most players read from a raw .h264 file; a key frame
 * gets its SPS and PPS from the avcC record in front of it, so the stream decodes from any key frame.
 */
export function toAnnexB(au: Buffer, config?: H264Config): Buffer {
  const START = Buffer.from([0, 0, 0, 1]);
  const parts: Buffer[] = [];
  if (config) {
    const rec = Buffer.from(config.description, 'base64');
    let o = 5;
    const sps = rec[o++] & 0x1f;
    for (let i = 0; i < sps; i++, o += 2 + rec.readUInt16BE(o)) parts.push(START, rec.subarray(o + 2, o + 2 + rec.readUInt16BE(o)));
    const pps = rec[o++];
    for (let i = 0; i < pps; i++, o += 2 + rec.readUInt16BE(o)) parts.push(START, rec.subarray(o + 2, o + 2 + rec.readUInt16BE(o)));
  }
  for (let o = 0; o + 4 <= au.length; ) {
    const n = au.readUInt32BE(o);
    parts.push(START, au.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return Buffer.concat(parts);
}
