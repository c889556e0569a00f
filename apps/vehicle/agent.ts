import type { ChildProcess } from 'node:child_process';
import { io, type Socket } from 'socket.io-client';
import {
  ClockSync,
  encodeFrameMessage,
  HANDSHAKE_UNAUTHORIZED,
  RELAY_EVENTS as EV,
  RELAY_LIMITS,
  RELAY_NAMESPACE,
  type ClockAck,
  type FrameMeta,
  type RelayErrorEvent,
  type Telemetry,
  type VehicleControl,
  type VehicleEstop,
  type VehicleEstopClear,
  type VehicleSeat,
  type VideoCaps,
  type VideoCodec,
  type VideoConfig,
} from '../../backend/src/protocol/index.js';
import { H264Encoder, type EncodedFrame } from './h264.js';
import { bearing, SimCar, SimRenderer } from './sim.js';
import { JpegFromRaw, startFfmpeg, startRawCapture } from './sources.js';

export interface AgentOptions {
  server: string;
  token: string;
  source: { kind: 'sim' } | { kind: 'ffmpeg'; input: string };
  codec: VideoCodec;
  /** H.264 target bitrate, ffmpeg syntax (800k). */
  bitrate: string;
  fps: number;
  width: number;
  height: number;
  /** Write every applied command as a JSON line here (a motor driver reads it). */
  controlsOut?: NodeJS.WritableStream;
  log: (line: string) => void;
}

/**
 * What the motors are told: the last command, or zero after stop, e-stop or the dead-man. `fence` is the seat's token
 * of an applied control. Two lines move nothing but say why later ones may: `seat` (a new driver's token) and
 * `estop-clear`.
 */
export interface AppliedCommand {
  at: number;
  seq: number | null;
  throttle: number;
  steer: number;
  reason: 'control' | 'stop' | 'estop' | 'estop-clear' | 'seat' | 'deadman' | 'disconnected' | 'shutdown';
  fence?: number;
}

const TELEMETRY_HZ = 10;
const SIM_HZ = 50;

/**
 * The vehicle side of the relay: sends camera frames (H.264, or JPEG) and telemetry, applies controls with its own
 * dead-man, and refuses controls that arrive too late to be safe. Times it sends and checks are in server time.
 */
export class VehicleAgent {
  private socket?: Socket;
  private readonly car = new SimCar();
  private renderer?: SimRenderer;
  private capture?: ChildProcess;
  private h264?: H264Encoder;
  /** JPEG for watchers that cannot decode H.264, while the server says some need it. */
  private jpegWanted = false;
  private jpegFromRaw?: JpegFromRaw;
  private timers: NodeJS.Timeout[] = [];
  private deadman?: NodeJS.Timeout;
  private frameSeq = 0;
  private lastSeq = -1;
  private estopped = false;
  /** The generation of the latch that holds (Infinity: one whose number is not known yet, cleared by no message). */
  private latchGen = 0;
  /** The token of the current seat (null: nobody may drive), and the largest ever seen (tokens only grow). */
  private fence: number | null = null;
  private maxFence = 0;
  private rendering = false;
  private stopped = false;
  /** Controls that arrived older than RELAY_LIMITS.staleControlMs (server time) and were not applied. */
  staleControls = 0;
  /** Controls refused because their seat's token was not the current one. */
  fencedControls = 0;
  readonly clock: ClockSync;
  name = 'vehicle';

  constructor(private readonly opts: AgentOptions) {
    this.clock = new ClockSync(async (t0) => (await this.socket!.timeout(2000).emitWithAck(EV.clock, { t0 })) as ClockAck);
  }

  /** Resolves when the agent stops: on stop(), or rejects when the server refuses its token. */
  run(): Promise<void> {
    return new Promise((resolve, reject) => {
      const caps: VideoCaps = { codecs: [this.opts.codec], jpegOnRequest: this.opts.codec === 'h264' };
      const socket = io(new URL(RELAY_NAMESPACE, this.opts.server).href, {
        // What it sends is said in the handshake, so that its first watchers get the right codec.
        auth: { vehicleToken: this.opts.token, caps },
        transports: ['websocket'],
        reconnectionDelay: 500,
        reconnectionDelayMax: 5000,
        randomizationFactor: 0.3,
      });
      this.socket = socket;
      socket.on('connect', () => {
        this.opts.log(`connected to ${this.opts.server}`);
        // A new connection is driven only after a new seat.
        this.fence = null;
        void this.clock.sync().catch(() => undefined);
        // A new connection (or a new instance) starts its watchers from a key frame.
        this.h264?.requestKeyframe();
      });
      socket.on('disconnect', (reason) => {
        this.opts.log(`disconnected (${reason}); reconnecting`);
        this.apply(null, 0, 0, 'disconnected');
        // A server-side disconnect (token rotated, vehicle deleted, replaced) does not retry by itself.
        if (reason === 'io server disconnect' && !this.stopped) setTimeout(() => socket.connect(), 1000);
      });
      socket.on('connect_error', (err) => {
        if (err.message === HANDSHAKE_UNAUTHORIZED) {
          reject(new Error('the server refused the vehicle token (unauthorized)'));
          this.stop('shutdown');
        } else {
          this.opts.log(`cannot connect: ${err.message}; retrying`);
          // A refusal by the server itself (its database away, say) is not retried by the client on its own.
          if (!socket.active) setTimeout(() => !this.stopped && socket.connect(), 1000 + Math.random() * 1000);
        }
      });
      socket.on(EV.control, (c: VehicleControl) => this.onControl(c));
      socket.on(EV.stop, () => {
        this.fence = null;
        this.apply(null, 0, 0, 'stop');
      });
      socket.on(EV.seat, (s: VehicleSeat) => this.onSeat(s));
      socket.on(EV.estop, (e: VehicleEstop) => {
        this.estopped = true;
        this.latchGen = typeof e?.gen === 'number' ? e.gen : Infinity;
        this.apply(null, 0, 0, 'estop');
      });
      socket.on(EV.estopClear, (c: VehicleEstopClear) => {
        // A clear older than the latch that holds (late, or out of order) does not end it.
        if (!this.estopped || typeof c?.gen !== 'number' || c.gen <= this.latchGen) return;
        this.estopped = false;
        this.note('estop-clear');
      });
      socket.on(EV.keyframeRequest, () => this.h264?.requestKeyframe());
      socket.on(EV.videoConfig, (c: VideoConfig) => this.setJpeg(c.jpeg === true));
      socket.on(EV.error, (e: RelayErrorEvent) => this.opts.log(`server refused ${e.event}: ${e.code} ${e.message}`));
      this.startSource(reject);
      let last = performance.now();
      this.timers.push(
        setInterval(() => {
          const now = performance.now();
          this.car.step((now - last) / 1000);
          last = now;
        }, 1000 / SIM_HZ),
        setInterval(() => this.sendTelemetry(), 1000 / TELEMETRY_HZ),
        setInterval(() => void this.clock.sync().catch(() => undefined), 30_000),
      );
      this.resolveRun = resolve;
    });
  }

  private resolveRun?: () => void;

  stop(reason: AppliedCommand['reason'] = 'shutdown'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.apply(null, 0, 0, reason);
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.deadman);
    this.capture?.kill('SIGTERM');
    this.h264?.stop();
    this.jpegFromRaw?.stop();
    this.socket?.disconnect();
    this.resolveRun?.();
  }

  private onSeat(s: VehicleSeat): void {
    if (typeof s?.fence !== 'number' || s.fence <= this.maxFence) return;
    this.maxFence = s.fence;
    this.fence = s.fence;
    this.note('seat', s.fence);
  }

  private onControl(c: VehicleControl): void {
    this.socket?.emit(EV.controlAck, { seq: c.seq });
    if (this.estopped) return;
    // Fencing: only the current seat's controls move the car; anything from an ended or older seat is dropped.
    if (this.fence === null || c.fence !== this.fence) {
      this.fencedControls++;
      return;
    }
    // A burst of late commands after a network stall must not drive the car.
    if (this.clock.synced && typeof c.sentAt === 'number' && this.clock.now() - c.sentAt > RELAY_LIMITS.staleControlMs) {
      this.staleControls++;
      return;
    }
    this.lastSeq = c.seq;
    this.apply(c.seq, c.throttle, c.steer, 'control');
    // Dead-man: whatever the server does, no fresh command within the limit stops the car.
    clearTimeout(this.deadman);
    this.deadman = setTimeout(() => this.apply(null, 0, 0, 'deadman'), RELAY_LIMITS.agentDeadManMs);
  }

  private apply(seq: number | null, throttle: number, steer: number, reason: AppliedCommand['reason']): void {
    if (reason !== 'control') clearTimeout(this.deadman);
    const s = this.car.state;
    if (reason !== 'control' && s.throttle === 0 && s.steer === 0 && reason !== 'estop') return;
    this.car.command(throttle, steer);
    const line: AppliedCommand = { at: Date.now(), seq, throttle, steer, reason, ...(reason === 'control' && this.fence !== null ? { fence: this.fence } : {}) };
    this.opts.controlsOut?.write(JSON.stringify(line) + '\n');
  }

  private note(reason: 'seat' | 'estop-clear', fence?: number): void {
    const line: AppliedCommand = { at: Date.now(), seq: null, throttle: 0, steer: 0, reason, ...(fence !== undefined ? { fence } : {}) };
    this.opts.controlsOut?.write(JSON.stringify(line) + '\n');
  }

  private startSource(fail: (err: Error) => void): void {
    const { fps, width, height, source, codec, bitrate } = this.opts;
    const died = (why: string) => {
      if (this.stopped) return;
      fail(new Error(why));
      this.stop('shutdown');
    };
    if (codec === 'h264') {
      this.h264 = new H264Encoder({ width, height, fps, bitrate, pixelFormat: source.kind === 'sim' ? 'rgba' : 'yuv420p' }, (f) => this.sendH264(f), died);
    }
    if (source.kind === 'sim') {
      this.renderer = new SimRenderer(width, height);
      this.timers.push(setInterval(() => void this.renderSim(), 1000 / fps));
      return;
    }
    const ended = (code: number | null, stderr: string) => died(`ffmpeg ended (code ${code}): ${stderr.trim() || 'no output'}`);
    if (codec === 'jpeg') {
      this.capture = startFfmpeg(source.input, fps, width, height, (jpeg) => this.sendJpeg(jpeg, this.clock.now()), ended);
      return;
    }
    // H.264 from a camera, file or URL: ffmpeg decodes once to raw frames, which the encoders take.
    this.capture = startRawCapture(source.input, fps, width, height, (yuv) => {
      const at = this.clock.now();
      this.h264?.encode(yuv, at);
      this.jpegFromRaw?.write(yuv, at);
    }, ended);
  }

  private setJpeg(on: boolean): void {
    if (this.opts.codec !== 'h264' || on === this.jpegWanted) return;
    this.jpegWanted = on;
    this.opts.log(on ? 'a watcher needs JPEG: sending it beside H.264' : 'no watcher needs JPEG any more');
    if (this.opts.source.kind === 'ffmpeg') {
      this.jpegFromRaw?.stop();
      this.jpegFromRaw = on ? new JpegFromRaw(this.opts.width, this.opts.height, this.opts.fps, (jpeg, at) => this.sendJpeg(jpeg, at)) : undefined;
    }
  }

  private async renderSim(): Promise<void> {
    if (this.rendering || !this.renderer || !this.socket?.connected) return; // never queue frames: latest wins
    this.rendering = true;
    try {
      const at = this.clock.now();
      this.renderer.draw(this.car, { seq: this.lastSeq, estopped: this.estopped, connected: true, name: this.name }, at);
      if (this.h264) this.h264.encode(this.renderer.rgba(), at);
      if (!this.h264 || this.jpegWanted) this.sendJpeg(await this.renderer.jpeg(), at);
    } finally {
      this.rendering = false;
    }
  }

  private sendJpeg(jpeg: Buffer, capturedAt: number): void {
    if (!this.socket?.connected) return;
    // Dropped, like a volatile event, when it cannot be written now: never queued behind the others.
    if (!this.socket.io.engine.transport?.writable) return;
    const meta: FrameMeta = { seq: this.frameSeq++, capturedAt, width: this.opts.width, height: this.opts.height, codec: 'jpeg' };
    this.sendFrame(meta, jpeg);
  }

  private sendH264(f: EncodedFrame): void {
    if (!this.socket?.connected) return;
    const meta: FrameMeta = { seq: this.frameSeq++, capturedAt: f.capturedAt, width: this.opts.width, height: this.opts.height, codec: 'h264', key: f.key, ...(f.key && f.config ? { config: f.config } : {}) };
    // Not volatile: a lost P-frame would break every frame until the next key frame. The relay's credit window
    // and key-frame rules deal with slow watchers; the vehicle's link carries only its own stream.
    this.sendFrame(meta, f.au);
  }

  /** One binary message on the connection (see `BINARY_FRAME`): the relay reads it without the Socket.IO parser. */
  private sendFrame(meta: FrameMeta, bytes: Uint8Array): void {
    this.socket!.io.engine.send(encodeFrameMessage(meta, bytes));
  }

  private sendTelemetry(): void {
    if (!this.socket?.connected) return;
    const s = this.car.state;
    const t: Telemetry = {
      speed: round(s.speed),
      heading: round(bearing(s.heading)),
      x: round(s.x),
      y: round(s.y),
      battery: round(this.car.battery),
      throttle: s.throttle,
      steer: s.steer,
      estopped: this.estopped,
      lastSeq: this.lastSeq,
      staleControls: this.staleControls,
      codec: this.opts.codec,
      clockOffsetMs: Math.round(this.clock.offset),
    };
    this.socket.volatile.emit(EV.telemetry, t);
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;
