/** Throttle and steer, each in [-1, 1]. */
export interface Axes {
  throttle: number;
  steer: number;
}

export const ZERO: Axes = Object.freeze({ throttle: 0, steer: 0 });
export const CONTROL_HZ = 30;
/** The server accepts 60 Hz; immediate sends on input changes never come closer than this. */
export const MIN_GAP_MS = 17;
const DEADZONE = 0.12;

type Dir = 'up' | 'down' | 'left' | 'right';
const KEYS: Record<string, Dir> = { KeyW: 'up', ArrowUp: 'up', KeyS: 'down', ArrowDown: 'down', KeyA: 'left', ArrowLeft: 'left', KeyD: 'right', ArrowRight: 'right' };

const clamp = (n: number) => Math.max(-1, Math.min(1, n));
const dead = (n: number) => (Math.abs(n) < DEADZONE ? 0 : n);

/** Keyboard, on-screen joystick and gamepad folded into one command; the most direct input wins. */
export class ControlInput {
  private readonly keys = new Set<Dir>();
  private joystick: Axes | null = null;
  private gamepad: Axes | null = null;

  static handles(code: string): boolean {
    return code in KEYS;
  }

  /** Returns whether the command changed. */
  keyDown(code: string): boolean {
    const d = KEYS[code];
    if (!d || this.keys.has(d)) return false;
    this.keys.add(d);
    return true;
  }

  keyUp(code: string): boolean {
    const d = KEYS[code];
    return !!d && this.keys.delete(d);
  }

  setJoystick(axes: Axes | null): void {
    this.joystick = axes;
  }

  setGamepad(axes: Axes | null): void {
    this.gamepad = axes && (axes.throttle !== 0 || axes.steer !== 0) ? axes : null;
  }

  clear(): void {
    this.keys.clear();
    this.joystick = null;
    this.gamepad = null;
  }

  axes(): Axes {
    if (this.joystick) return { throttle: clamp(this.joystick.throttle), steer: clamp(this.joystick.steer) };
    if (this.gamepad) return { throttle: clamp(this.gamepad.throttle), steer: clamp(this.gamepad.steer) };
    const k = this.keys;
    return { throttle: (k.has('up') ? 1 : 0) - (k.has('down') ? 1 : 0), steer: (k.has('right') ? 1 : 0) - (k.has('left') ? 1 : 0) };
  }
}

/** A point on the on-screen joystick (offset from its centre, in px) → axes; up is forward, right is right. */
export function joystickAxes(dx: number, dy: number, radius: number): Axes {
  const len = Math.hypot(dx, dy);
  const k = len > radius ? radius / len : 1;
  return { throttle: dead(clamp((-dy * k) / radius)), steer: dead(clamp((dx * k) / radius)) };
}

/** Standard-mapping gamepad: left stick steers; right trigger forward, left trigger back (or the stick's Y). */
export function gamepadAxes(pad: { axes: readonly number[]; buttons: readonly { value: number }[] } | null): Axes | null {
  if (!pad) return null;
  const steer = dead(pad.axes[0] ?? 0);
  const triggers = (pad.buttons[7]?.value ?? 0) - (pad.buttons[6]?.value ?? 0);
  const throttle = Math.abs(triggers) > DEADZONE ? triggers : dead(-(pad.axes[1] ?? 0));
  return { throttle: clamp(throttle), steer: clamp(steer) };
}

export interface Clock {
  now(): number;
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(id: unknown): void;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as ReturnType<typeof setInterval>),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Sends the current command at 30 Hz while driving (which also keeps the server's lease), and at once when the
 * input changes — never closer than MIN_GAP_MS, so a burst of key events cannot trip the server's rate limit.
 */
export class ControlLoop {
  private interval: unknown = null;
  private pending: unknown = null;
  private last = -Infinity;
  private seq = 0;

  constructor(private readonly read: () => Axes, private readonly send: (axes: Axes, seq: number) => void, private readonly clock: Clock = realClock, private readonly beforeTick: () => void = () => undefined) {}

  get running(): boolean {
    return this.interval !== null;
  }

  start(): void {
    if (this.interval !== null) return;
    this.interval = this.clock.setInterval(() => {
      this.beforeTick();
      // A heartbeat: skipped when an input change just went out, so no two sends come closer than the gap.
      if (this.clock.now() - this.last >= MIN_GAP_MS) this.emit(this.read());
    }, 1000 / CONTROL_HZ);
    this.emit(this.read());
  }

  /** The input changed: send now (or as soon as the gap allows). */
  nudge(): void {
    if (this.interval === null) return;
    const wait = MIN_GAP_MS - (this.clock.now() - this.last);
    if (wait <= 0) return this.emit(this.read());
    if (this.pending === null) {
      this.pending = this.clock.setTimeout(() => {
        this.pending = null;
        if (this.interval !== null) this.emit(this.read());
      }, wait);
    }
  }

  /** Stops the loop, sending one last zero command. */
  stop(): void {
    if (this.interval === null) return;
    this.clock.clearInterval(this.interval);
    if (this.pending !== null) this.clock.clearTimeout(this.pending);
    this.interval = this.pending = null;
    this.emit(ZERO);
  }

  private emit(axes: Axes): void {
    if (this.pending !== null) {
      this.clock.clearTimeout(this.pending);
      this.pending = null;
    }
    this.last = this.clock.now();
    this.send(axes, ++this.seq);
  }
}
