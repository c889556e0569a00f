import { createCanvas, type SKRSContext2D } from '@napi-rs/canvas';
import { TIMECODE, TIMECODE_WIDTH, timecodeSquares } from './timecode.js';

export interface CarState {
  x: number;
  y: number;
  /** Radians, 0 = east, counter-clockwise. */
  heading: number;
  /** m/s, signed. */
  speed: number;
  throttle: number;
  steer: number;
}

const MAX_SPEED = 3; // m/s at full throttle
const ACCEL = 4; // m/s² towards a faster commanded speed
const BRAKE = 12; // m/s² when slowing down: from full speed to rest in 0.25 s
const WHEELBASE = 0.3; // m
const MAX_STEER = 0.6; // rad at full lock

/** A small car with bicycle kinematics, driven by throttle and steer in [-1, 1]. */
export class SimCar {
  readonly state: CarState = { x: 0, y: 0, heading: Math.PI / 2, speed: 0, throttle: 0, steer: 0 };
  battery = 100;

  command(throttle: number, steer: number): void {
    this.state.throttle = throttle;
    this.state.steer = steer;
  }

  step(dt: number): void {
    const s = this.state;
    const target = s.throttle * MAX_SPEED;
    const dv = target - s.speed;
    const slowing = Math.abs(target) < Math.abs(s.speed) || Math.sign(target) !== Math.sign(s.speed);
    s.speed += Math.sign(dv) * Math.min(Math.abs(dv), (slowing ? BRAKE : ACCEL) * dt);
    if (Math.abs(s.speed) < 1e-3 && s.throttle === 0) s.speed = 0;
    s.heading += (s.speed / WHEELBASE) * Math.tan(s.steer * MAX_STEER) * dt;
    s.x += s.speed * Math.cos(s.heading) * dt;
    s.y += s.speed * Math.sin(s.heading) * dt;
    this.battery = Math.max(0, this.battery - Math.abs(s.speed) * dt * 0.01);
  }
}

export interface Hud {
  seq: number;
  estopped: boolean;
  connected: boolean;
  name: string;
}

/** Draws the car top-down on a grid that scrolls with it, plus a heads-up line, and encodes a JPEG. */
export class SimRenderer {
  private readonly canvas;
  private readonly ctx: SKRSContext2D;
  private readonly pxPerMeter = 80;

  constructor(readonly width: number, readonly height: number) {
    this.canvas = createCanvas(width, height);
    this.ctx = this.canvas.getContext('2d');
  }

  /** Draws a frame; `capturedAt` (server time) is also written into the picture as a time code. */
  draw(car: SimCar, hud: Hud, capturedAt = Date.now()): void {
    const { ctx, width: w, height: h, pxPerMeter: k } = this;
    const s = car.state;
    ctx.fillStyle = '#16301c';
    ctx.fillRect(0, 0, w, h);
    // The camera follows the car: the grid moves under it, so driving visibly changes the picture.
    ctx.strokeStyle = '#2f5d3a';
    ctx.lineWidth = 1;
    const ox = (((-s.x * k) % k) + k) % k;
    const oy = (((s.y * k) % k) + k) % k;
    ctx.beginPath();
    for (let x = ox; x < w; x += k) {
      ctx.moveTo(x, 0);
      ctx.lineTo(x, h);
    }
    for (let y = oy; y < h; y += k) {
      ctx.moveTo(0, y);
      ctx.lineTo(w, y);
    }
    ctx.stroke();
    ctx.save();
    ctx.translate(w / 2, h / 2);
    ctx.rotate(-s.heading);
    ctx.fillStyle = hud.estopped ? '#d32f2f' : '#fdd835';
    ctx.fillRect(-24, -14, 48, 28);
    ctx.fillStyle = '#212121';
    ctx.fillRect(12, -10, 10, 20);
    ctx.restore();
    ctx.fillStyle = 'rgba(0,0,0,0.6)';
    ctx.fillRect(0, 0, w, 28);
    ctx.fillStyle = '#ffffff';
    ctx.font = '16px sans-serif';
    const clock = new Date().toISOString().slice(11, 23);
    const line = `${hud.name}  ${s.speed.toFixed(2)} m/s  hdg ${bearing(s.heading).toFixed(0)}°  seq ${hud.seq}  ${hud.estopped ? 'E-STOP' : hud.connected ? 'ok' : 'offline'}  ${clock}`;
    ctx.fillText(line, 8, 19);
    const y = h - TIMECODE.marginBottom - TIMECODE.square;
    if (w >= TIMECODE_WIDTH)
      timecodeSquares(capturedAt).forEach((b, i) => {
        ctx.fillStyle = b ? '#ffffff' : '#000000';
        ctx.fillRect(TIMECODE.x + i * TIMECODE.square, y, TIMECODE.square, TIMECODE.square);
      });
  }

  jpeg(quality = 75): Promise<Buffer> {
    return this.canvas.encode('jpeg', quality);
  }

  /** The picture as raw RGBA pixels, for the H.264 encoder. */
  rgba(): Buffer {
    return this.canvas.data();
  }

  /** Draws and encodes a JPEG (the relay benchmark's sample frame). */
  render(car: SimCar, hud: Hud, quality = 75): Promise<Buffer> {
    this.draw(car, hud);
    return this.jpeg(quality);
  }
}

/** A math angle (radians, 0 = +x, counter-clockwise) as a compass bearing in degrees (0 = north = +y, clockwise). */
export function bearing(headingRad: number): number {
  return ((((90 - (headingRad * 180) / Math.PI) % 360) + 360) % 360);
}
