import { ControlInput, ControlLoop, CONTROL_HZ, gamepadAxes, joystickAxes, MIN_GAP_MS, type Axes, type Clock } from './control-input';

/** A clock the test moves by hand: timers fire only when time is advanced past them. */
class FakeClock implements Clock {
  t = 0;
  private timers: { id: number; at: number; every: number | null; fn: () => void }[] = [];
  private next = 1;
  now = () => this.t;
  setInterval = (fn: () => void, ms: number) => this.add(fn, ms, ms);
  setTimeout = (fn: () => void, ms: number) => this.add(fn, ms, null);
  clearInterval = (id: unknown) => this.remove(id);
  clearTimeout = (id: unknown) => this.remove(id);
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = due.at;
      if (due.every === null) this.remove(due.id);
      else due.at += due.every;
      due.fn();
    }
    this.t = end;
  }
  private add(fn: () => void, ms: number, every: number | null): number {
    const id = this.next++;
    this.timers.push({ id, at: this.t + ms, every, fn });
    return id;
  }
  private remove(id: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== id);
  }
}

describe('ControlInput', () => {
  it('maps W/A/S/D and the arrows to throttle and steer', () => {
    const i = new ControlInput();
    expect(i.keyDown('KeyW')).toBe(true);
    expect(i.axes()).toEqual({ throttle: 1, steer: 0 });
    i.keyDown('ArrowLeft');
    expect(i.axes()).toEqual({ throttle: 1, steer: -1 });
    i.keyDown('KeyS');
    expect(i.axes().throttle).toBe(0);
    i.keyUp('KeyW');
    i.keyUp('ArrowLeft');
    i.keyDown('KeyD');
    expect(i.axes()).toEqual({ throttle: -1, steer: 1 });
    expect(i.keyDown('KeyQ')).toBe(false);
    expect(ControlInput.handles('Space')).toBe(false);
  });

  it('ignores key repeats and reports real changes only', () => {
    const i = new ControlInput();
    expect(i.keyDown('KeyW')).toBe(true);
    expect(i.keyDown('KeyW')).toBe(false);
    expect(i.keyUp('KeyW')).toBe(true);
    expect(i.keyUp('KeyW')).toBe(false);
  });

  it('lets the joystick override keys, and a gamepad beyond its dead zone', () => {
    const i = new ControlInput();
    i.keyDown('KeyW');
    i.setGamepad({ throttle: 0.5, steer: 0.25 });
    expect(i.axes()).toEqual({ throttle: 0.5, steer: 0.25 });
    i.setJoystick({ throttle: -0.3, steer: 0 });
    expect(i.axes()).toEqual({ throttle: -0.3, steer: 0 });
    i.setJoystick(null);
    i.setGamepad({ throttle: 0, steer: 0 });
    expect(i.axes()).toEqual({ throttle: 1, steer: 0 });
  });

  it('maps joystick offsets (up is forward) with clamping and a dead zone', () => {
    expect(joystickAxes(0, -50, 50)).toEqual({ throttle: 1, steer: 0 });
    expect(joystickAxes(100, 0, 50)).toEqual({ throttle: 0, steer: 1 });
    expect(joystickAxes(2, 2, 50)).toEqual({ throttle: 0, steer: 0 });
    const diag = joystickAxes(100, 100, 50);
    expect(diag.throttle).toBeCloseTo(-Math.SQRT1_2, 5);
    expect(diag.steer).toBeCloseTo(Math.SQRT1_2, 5);
  });

  it('reads a standard gamepad: stick steers, triggers drive', () => {
    const buttons = Array.from({ length: 8 }, () => ({ value: 0 }));
    expect(gamepadAxes({ axes: [0.5, -1], buttons })).toEqual({ throttle: 1, steer: 0.5 });
    buttons[6] = { value: 0.8 };
    expect(gamepadAxes({ axes: [0.05, 0], buttons })).toEqual({ throttle: -0.8, steer: 0 });
    expect(gamepadAxes(null)).toBeNull();
  });
});

describe('ControlLoop', () => {
  function setup() {
    const clock = new FakeClock();
    const input = new ControlInput();
    const sent: { axes: Axes; seq: number; at: number }[] = [];
    const loop = new ControlLoop(() => input.axes(), (axes, seq) => sent.push({ axes, seq, at: clock.t }), clock);
    return { clock, input, sent, loop };
  }

  it('sends at 30 Hz while driving, with strictly increasing seq', () => {
    const { clock, sent, loop } = setup();
    loop.start();
    clock.advance(1001);
    expect(sent.length).toBe(1 + CONTROL_HZ);
    expect(sent.every((s, i) => i === 0 || s.seq > sent[i - 1].seq)).toBe(true);
    loop.stop();
    const n = sent.length;
    clock.advance(1000);
    expect(sent.length).toBe(n);
  });

  it('sends zero at once on key-up, but never closer than the minimum gap', () => {
    const { clock, input, sent, loop } = setup();
    loop.start();
    input.keyDown('KeyW');
    clock.advance(20);
    loop.nudge();
    expect(sent.at(-1)!.axes).toEqual({ throttle: 1, steer: 0 });
    input.keyUp('KeyW');
    loop.nudge(); // too soon after the previous send: deferred, not dropped
    expect(sent.at(-1)!.axes.throttle).toBe(1);
    clock.advance(MIN_GAP_MS);
    expect(sent.at(-1)!.axes).toEqual({ throttle: 0, steer: 0 });
    expect(sent.at(-1)!.at - sent.at(-2)!.at).toBeGreaterThanOrEqual(MIN_GAP_MS);
  });

  it('keeps every two sends at least the minimum gap apart, whatever the input does', () => {
    const { clock, input, sent, loop } = setup();
    loop.start();
    for (let i = 0; i < 200; i++) {
      if (i % 2) input.keyDown('KeyW');
      else input.keyUp('KeyW');
      loop.nudge();
      clock.advance(3);
    }
    clock.advance(100);
    const gaps = sent.slice(1).map((s, i) => s.at - sent[i].at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(MIN_GAP_MS);
    expect(sent.at(-1)!.axes).toEqual(input.axes());
  });

  it('stop sends a final zero command (blur, hidden tab, unload)', () => {
    const { clock, input, sent, loop } = setup();
    loop.start();
    input.keyDown('KeyW');
    loop.nudge();
    clock.advance(100);
    loop.stop();
    expect(sent.at(-1)!.axes).toEqual({ throttle: 0, steer: 0 });
    expect(loop.running).toBe(false);
  });
});
