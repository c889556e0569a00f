import type { ChildProcess } from 'node:child_process';
import { io, type Socket } from 'socket.io-client';
import { RELAY_EVENTS as EV, RELAY_LIMITS, RELAY_NAMESPACE, type FrameMeta, type RelayErrorEvent, type Telemetry, type VehicleControl } from '../../backend/src/protocol/index.js';
import { SimCar, SimRenderer } from './sim.js';
import { startFfmpeg } from './sources.js';

export interface AgentOptions {
  server: string;
  token: string;
  source: { kind: 'sim' } | { kind: 'ffmpeg'; input: string };
  fps: number;
  width: number;
  height: number;
  /** Write every applied command as a JSON line here (a motor driver reads it). */
  controlsOut?: NodeJS.WritableStream;
  log: (line: string) => void;
}

/** What the motors are told: the last command, or zero after stop, e-stop or the dead-man. */
export interface AppliedCommand {
  at: number;
  seq: number | null;
  throttle: number;
  steer: number;
  reason: 'control' | 'stop' | 'estop' | 'deadman' | 'disconnected' | 'shutdown';
}

const TELEMETRY_HZ = 10;
const SIM_HZ = 50;

/** The vehicle side of the relay: sends camera frames and telemetry, applies controls with its own dead-man. */
export class VehicleAgent {
  private socket?: Socket;
  private readonly car = new SimCar();
  private renderer?: SimRenderer;
  private ffmpeg?: ChildProcess;
  private timers: NodeJS.Timeout[] = [];
  private deadman?: NodeJS.Timeout;
  private frameSeq = 0;
  private lastSeq = -1;
  private estopped = false;
  private rendering = false;
  private stopped = false;
  name = 'vehicle';

  constructor(private readonly opts: AgentOptions) {}

  /** Resolves when the agent stops: on stop(), or rejects when the server refuses its token. */
  run(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = io(new URL(RELAY_NAMESPACE, this.opts.server).href, {
        auth: { vehicleToken: this.opts.token },
        transports: ['websocket'],
        reconnectionDelay: 500,
        reconnectionDelayMax: 5000,
        randomizationFactor: 0.3,
      });
      this.socket = socket;
      socket.on('connect', () => this.opts.log(`connected to ${this.opts.server}`));
      socket.on('disconnect', (reason) => {
        this.opts.log(`disconnected (${reason}); reconnecting`);
        this.apply(null, 0, 0, 'disconnected');
        // A server-side disconnect (token rotated, vehicle deleted, replaced) does not retry by itself.
        if (reason === 'io server disconnect' && !this.stopped) setTimeout(() => socket.connect(), 1000);
      });
      socket.on('connect_error', (err) => {
        if (err.message === 'unauthorized') {
          reject(new Error('the server refused the vehicle token (unauthorized)'));
          this.stop('shutdown');
        } else this.opts.log(`cannot connect: ${err.message}; retrying`);
      });
      socket.on(EV.control, (c: VehicleControl) => this.onControl(c));
      socket.on(EV.stop, () => this.apply(null, 0, 0, 'stop'));
      socket.on(EV.estop, () => {
        this.estopped = true;
        this.apply(null, 0, 0, 'estop');
      });
      socket.on(EV.estopClear, () => {
        this.estopped = false;
      });
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
    this.ffmpeg?.kill('SIGTERM');
    this.socket?.disconnect();
    this.resolveRun?.();
  }

  private onControl(c: VehicleControl): void {
    this.socket?.emit(EV.controlAck, { seq: c.seq });
    if (this.estopped) return;
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
    const line: AppliedCommand = { at: Date.now(), seq, throttle, steer, reason };
    this.opts.controlsOut?.write(JSON.stringify(line) + '\n');
  }

  private startSource(fail: (err: Error) => void): void {
    const { fps, width, height, source } = this.opts;
    if (source.kind === 'sim') {
      this.renderer = new SimRenderer(width, height);
      this.timers.push(setInterval(() => void this.renderSim(), 1000 / fps));
      return;
    }
    this.ffmpeg = startFfmpeg(source.input, fps, width, height, (jpeg) => this.sendFrame(jpeg), (code, stderr) => {
      if (this.stopped) return;
      fail(new Error(`ffmpeg ended (code ${code}): ${stderr.trim() || 'no output'}`));
      this.stop('shutdown');
    });
  }

  private async renderSim(): Promise<void> {
    if (this.rendering || !this.renderer || !this.socket?.connected) return; // never queue frames: latest wins
    this.rendering = true;
    try {
      const jpeg = await this.renderer.render(this.car, { seq: this.lastSeq, estopped: this.estopped, connected: true, name: this.name });
      this.sendFrame(jpeg);
    } finally {
      this.rendering = false;
    }
  }

  private sendFrame(jpeg: Buffer): void {
    if (!this.socket?.connected) return;
    const meta: FrameMeta = { seq: this.frameSeq++, capturedAt: Date.now(), width: this.opts.width, height: this.opts.height, codec: 'jpeg' };
    // Volatile: a frame that cannot be written now is dropped instead of queued behind the others.
    this.socket.volatile.emit(EV.frame, meta, jpeg);
  }

  private sendTelemetry(): void {
    if (!this.socket?.connected) return;
    const s = this.car.state;
    const t: Telemetry = {
      speed: round(s.speed),
      heading: round((((s.heading * 180) / Math.PI) % 360 + 360) % 360),
      x: round(s.x),
      y: round(s.y),
      battery: round(this.car.battery),
      throttle: s.throttle,
      steer: s.steer,
      estopped: this.estopped,
      lastSeq: this.lastSeq,
    };
    this.socket.volatile.emit(EV.telemetry, t);
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;
