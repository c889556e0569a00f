import { DecimalPipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { RELAY_LIMITS } from '@vicer/protocol';
import { AuthService } from '../auth/auth.service';
import { ControlInput, joystickAxes } from './control-input';
import { DriveSession } from './drive-session';

/** Take/release control, keyboard and joystick driving, E-STOP (also Space) and the vehicle's readings. */
@Component({
  selector: 'app-control-pad',
  imports: [MatButtonModule, DecimalPipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  host: {
    '(window:keydown)': 'keyDown($event)',
    '(window:keyup)': 'keyUp($event)',
    '(window:blur)': 'session.emergencyRelease()',
    '(document:visibilitychange)': 'visibility()',
    '(window:pagehide)': 'session.emergencyRelease()',
  },
  template: `
    @if (session.selected(); as v) {
      <section class="pad" aria-label="Control pad" i18n-aria-label>
        <div class="row">
          @if (session.driving()) {
            <button mat-flat-button type="button" (click)="session.release()" i18n>Release control</button>
          } @else {
            <button mat-flat-button type="button" [disabled]="!v.online || session.someoneElseDrives()" (click)="session.acquire()" i18n>Take control</button>
            @if (session.someoneElseDrives() && auth.can('drive:takeover')) {
              <button mat-stroked-button type="button" (click)="session.acquire(true)" i18n>Take over</button>
            }
          }
          <span class="driver">@if (v.driver) {<ng-container i18n>Driver: {{ v.driver.name }}</ng-container>} @else {<ng-container i18n>Driver: nobody</ng-container>}</span>
        </div>
        <div class="row">
          <button class="estop" type="button" (click)="session.estop()" aria-keyshortcuts="Space" i18n>E-STOP</button>
          @if (v.estopped) {
            <span class="latched" role="status" i18n>E-STOP latched</span>
            @if (session.canClearEstop()) {
              <button mat-stroked-button type="button" (click)="session.clearEstop()" i18n>Clear E-STOP</button>
            }
          }
        </div>
        @if (session.driving() && session.blind()) {
          <p class="blind" role="alert" i18n>No video for {{ staleMs }} ms: the car is held at zero until the picture returns.</p>
        }
        @if (session.driving()) {
          <div
            class="joystick"
            role="application"
            aria-label="Joystick"
            i18n-aria-label
            (pointerdown)="stickDown($event)"
            (pointermove)="stickMove($event)"
            (pointerup)="stickUp()"
            (pointercancel)="stickUp()"
          >
            <div class="knob" [style.transform]="knob()"></div>
          </div>
          <p class="hint" i18n>Drive with W A S D or the arrow keys, the joystick, or a gamepad. Space is E-STOP.</p>
        }
        <dl class="readings" aria-label="Telemetry" i18n-aria-label>
          <div><dt i18n>Speed</dt><dd aria-label="Speed" i18n-aria-label>{{ (session.telemetry()?.speed ?? 0) | number: '1.2-2' }} m/s</dd></div>
          <div><dt i18n>Heading</dt><dd>{{ (session.telemetry()?.heading ?? 0) | number: '1.0-0' }}°</dd></div>
          <div><dt i18n>Battery</dt><dd>{{ (session.telemetry()?.battery ?? 0) | number: '1.0-1' }} %</dd></div>
          <div><dt i18n>Round trip</dt><dd aria-label="Round trip" i18n-aria-label>{{ session.rttMs() ?? '–' }} ms</dd></div>
          <div><dt i18n>Command</dt><dd>{{ session.command().throttle | number: '1.1-1' }} / {{ session.command().steer | number: '1.1-1' }}</dd></div>
        </dl>
      </section>
    }
  `,
  styles: `
    .pad { display: flex; flex-direction: column; gap: 12px; }
    .row { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; }
    .estop { background: #c62828; color: #fff; border: 3px solid #ffeb3b; border-radius: 12px; font: 700 1.4rem/1 Roboto, 'Noto Sans KR', sans-serif; padding: 16px 28px; cursor: pointer; }
    .estop:focus-visible { outline: 3px solid var(--mat-sys-primary); }
    .latched { color: #c62828; font-weight: 700; }
    .blind { margin: 0; padding: 8px 12px; border-radius: 8px; background: #fff3e0; color: #bf360c; font-weight: 600; }
    .joystick { width: 180px; height: 180px; border-radius: 50%; background: var(--mat-sys-surface-container-high); position: relative; touch-action: none; user-select: none; }
    .knob { position: absolute; left: 60px; top: 60px; width: 60px; height: 60px; border-radius: 50%; background: var(--mat-sys-primary); }
    .readings { display: flex; flex-wrap: wrap; gap: 16px; margin: 0; }
    .readings dt { font-size: 0.75rem; opacity: 0.7; }
    .readings dd { margin: 0; font: 600 1rem monospace, 'Noto Sans KR'; }
    .hint { font-size: 0.85rem; opacity: 0.8; margin: 0; }
  `,
})
export class ControlPadComponent {
  protected readonly session = inject(DriveSession);
  protected readonly auth = inject(AuthService);
  protected readonly staleMs = RELAY_LIMITS.staleVideoMs;
  private stickCenter: { x: number; y: number; r: number } | null = null;
  private stickOffset = { x: 0, y: 0 };

  protected knob(): string {
    const a = this.session.command();
    return this.stickCenter ? `translate(${this.stickOffset.x}px, ${this.stickOffset.y}px)` : `translate(${a.steer * 60}px, ${-a.throttle * 60}px)`;
  }

  protected keyDown(e: KeyboardEvent): void {
    if (isTyping(e)) return;
    if (e.code === 'Space') {
      e.preventDefault();
      if (!e.repeat) void this.session.estop();
      return;
    }
    if (!this.session.driving() || !ControlInput.handles(e.code)) return;
    e.preventDefault();
    if (this.session.input.keyDown(e.code)) this.session.inputChanged();
  }

  protected keyUp(e: KeyboardEvent): void {
    if (!this.session.driving() || !ControlInput.handles(e.code)) return;
    if (this.session.input.keyUp(e.code)) this.session.inputChanged(); // zero goes out at once
  }

  protected visibility(): void {
    if (document.visibilityState === 'hidden') this.session.emergencyRelease();
  }

  protected stickDown(e: PointerEvent): void {
    const el = e.currentTarget as HTMLElement;
    el.setPointerCapture(e.pointerId);
    const rect = el.getBoundingClientRect();
    this.stickCenter = { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2, r: rect.width / 2 - 30 };
    this.stickMove(e);
  }

  protected stickMove(e: PointerEvent): void {
    const c = this.stickCenter;
    if (!c) return;
    const dx = e.clientX - c.x;
    const dy = e.clientY - c.y;
    const len = Math.hypot(dx, dy);
    const k = len > c.r ? c.r / len : 1;
    this.stickOffset = { x: dx * k, y: dy * k };
    this.session.input.setJoystick(joystickAxes(dx, dy, c.r));
    this.session.inputChanged();
  }

  protected stickUp(): void {
    this.stickCenter = null;
    this.stickOffset = { x: 0, y: 0 };
    this.session.input.setJoystick(null);
    this.session.inputChanged();
  }
}

function isTyping(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  return !!t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable);
}
