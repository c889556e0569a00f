import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';

/** Splits a concatenated MJPEG byte stream into whole JPEG images (SOI 0xFFD8 … EOI 0xFFD9). */
export class JpegSplitter {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: Buffer[] = [];
    for (;;) {
      const start = this.buf.indexOf(SOI);
      if (start === -1) {
        // Keep a trailing 0xFF: it may be the first half of the next SOI.
        this.buf = this.buf.length && this.buf[this.buf.length - 1] === 0xff ? this.buf.subarray(-1) : Buffer.alloc(0);
        break;
      }
      // Inside entropy-coded data 0xFF is always followed by 0x00, so the first EOI ends the image.
      const end = this.buf.indexOf(EOI, start + 2);
      if (end === -1) {
        this.buf = this.buf.subarray(start);
        break;
      }
      out.push(Buffer.from(this.buf.subarray(start, end + 2)));
      this.buf = this.buf.subarray(end + 2);
    }
    if (this.buf.length > 16 * 1024 * 1024) this.buf = Buffer.alloc(0); // garbage with no EOI: start over
    return out;
  }
}
const SOI = Buffer.from([0xff, 0xd8]);
const EOI = Buffer.from([0xff, 0xd9]);

/** ffmpeg's input arguments for what the user named: a device, a file (looped, real time), a URL, or `lavfi:<graph>`. */
export function ffmpegInputArgs(input: string): string[] {
  // A generated pattern is paced like a camera (ffmpeg would otherwise make it as fast as it can).
  if (input.startsWith('lavfi:')) return ['-re', '-f', 'lavfi', '-i', input.slice(6)];
  if (input.startsWith('rtsp://')) return ['-rtsp_transport', 'tcp', '-i', input];
  if (/^[a-z]+:\/\//i.test(input)) return ['-i', input];
  if (input.startsWith('/dev/video')) return ['-f', 'v4l2', '-i', input];
  try {
    if (statSync(input).isFile()) return ['-re', '-stream_loop', '-1', '-i', input];
  } catch {
    // not a file: let ffmpeg say what it is
  }
  return ['-i', input];
}

/** Runs Debian's ffmpeg and hands over each MJPEG frame it produces, scaled to the requested size and rate. */
export function startFfmpeg(input: string, fps: number, width: number, height: number, onFrame: (jpeg: Buffer) => void, onExit: (code: number | null, stderr: string) => void): ChildProcess {
  const args = ['-hide_banner', '-loglevel', 'error', ...ffmpegInputArgs(input), '-an', '-vf', `scale=${width}:${height}`, '-r', String(fps), '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '5', 'pipe:1'];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const splitter = new JpegSplitter();
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    for (const jpeg of splitter.push(chunk)) onFrame(jpeg);
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.on('error', (err) => onExit(null, `cannot run ffmpeg: ${err.message}`));
  child.on('exit', (code) => onExit(code, stderr));
  return child;
}

/** Cuts a byte stream of raw frames into frames of a fixed size. */
export class RawFrameSplitter {
  private parts: Buffer[] = [];
  private have = 0;

  constructor(private readonly frameBytes: number) {}

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    this.parts.push(chunk);
    this.have += chunk.length;
    while (this.have >= this.frameBytes) {
      const all = Buffer.concat(this.parts);
      onFrame(all.subarray(0, this.frameBytes));
      const rest = all.subarray(this.frameBytes);
      this.parts = rest.length ? [rest] : [];
      this.have = rest.length;
    }
  }
}

/**
 * Runs ffmpeg on what the user named and hands over raw yuv420p frames at the requested size and rate — what the
 * H.264 encoder (and, on request, a JPEG encoder) takes, so that a camera is opened once whatever is encoded from it.
 */
export function startRawCapture(input: string, fps: number, width: number, height: number, onFrame: (yuv: Buffer) => void, onExit: (code: number | null, stderr: string) => void): ChildProcess {
  const args = ['-hide_banner', '-loglevel', 'error', ...ffmpegInputArgs(input), '-an', '-vf', `scale=${width}:${height}`, '-r', String(fps), '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const splitter = new RawFrameSplitter((width * height * 3) / 2);
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => splitter.push(chunk, onFrame));
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  child.on('error', (err) => onExit(null, `cannot run ffmpeg: ${err.message}`));
  child.on('exit', (code) => onExit(code, stderr));
  return child;
}

/** JPEG from raw yuv420p frames, for watchers that cannot decode H.264 (started only while some need it). */
export class JpegFromRaw {
  private readonly child: ChildProcess;
  private readonly splitter = new JpegSplitter();
  private readonly times: number[] = [];

  constructor(width: number, height: number, fps: number, onJpeg: (jpeg: Buffer, capturedAt: number) => void) {
    const args = ['-hide_banner', '-loglevel', 'error', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-r', String(fps), '-i', 'pipe:0', '-f', 'image2pipe', '-c:v', 'mjpeg', '-q:v', '5', 'pipe:1'];
    this.child = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'ignore'] });
    this.child.stdin!.on('error', () => undefined);
    this.child.stdout!.on('data', (chunk: Buffer) => {
      for (const jpeg of this.splitter.push(chunk)) onJpeg(jpeg, this.times.shift() ?? Date.now());
    });
  }

  write(yuv: Buffer, capturedAt: number): void {
    if (this.child.stdin!.writableLength > yuv.length * 2) return;
    this.times.push(capturedAt);
    this.child.stdin!.write(yuv);
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}
