import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, DestroyRef, effect, type ElementRef, inject, signal, viewChild } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatListModule } from '@angular/material/list';
import { AuthService } from '../auth/auth.service';
import { RelaySocketService } from '../relay/relay-socket.service';
import { CallService } from './call.service';

/** Who is online, with a Call button each; during a call, both videos, the controls, the timer and the quality. */
@Component({
  selector: 'app-chat',
  imports: [MatListModule, MatButtonModule, DatePipe],
  changeDetection: ChangeDetectionStrategy.OnPush,
  host: { '(window:pagehide)': 'leave()' },
  template: `
    @if (call.message(); as m) {
      <p class="message" role="status">{{ m }}</p>
    }
    @if (call.phase() === 'idle' || call.phase() === 'ringing') {
      <h1>Online now</h1>
      <mat-list aria-label="Online users">
        @for (p of relay.presence(); track p.userId) {
          <mat-list-item>
            <span matListItemTitle>{{ p.name }}{{ p.userId === auth.user()?.id ? ' (you)' : '' }}</span>
            <span matListItemLine>{{ p.busy ? 'in a call' : 'online since ' + (p.since | date: 'shortTime') }}</span>
            <button matListItemMeta mat-stroked-button type="button" [disabled]="p.userId === auth.user()?.id || p.busy" (click)="call.call({ userId: p.userId, name: p.name })" [attr.aria-label]="'Call ' + p.name">Call</button>
          </mat-list-item>
        } @empty {
          <mat-list-item>Nobody is online.</mat-list-item>
        }
      </mat-list>
    } @else {
      <section class="call" aria-label="Call">
        <h1>{{ call.phase() === 'calling' ? 'Calling' : call.phase() === 'connecting' ? 'Connecting to' : 'In a call with' }} {{ call.peer()?.name }}</h1>
        <div class="videos">
          <video #remote class="remote" aria-label="Remote video" autoplay playsinline></video>
          <video #local class="local" aria-label="Your video" autoplay playsinline muted></video>
        </div>
        <div class="bar">
          <button mat-stroked-button type="button" (click)="call.toggleMute()" [attr.aria-pressed]="call.muted()">{{ call.muted() ? 'Unmute' : 'Mute' }}</button>
          <button mat-stroked-button type="button" (click)="call.toggleCamera()" [attr.aria-pressed]="call.cameraOff()">{{ call.cameraOff() ? 'Camera on' : 'Camera off' }}</button>
          <button mat-flat-button class="hangup" type="button" (click)="call.hangup()">Hang up</button>
          <span aria-label="Call time">{{ elapsed() }}</span>
          <span aria-label="Connection quality">RTT {{ call.stats().rttMs ?? '–' }} ms · out {{ call.stats().kbps ?? '–' }} kbit/s</span>
        </div>
      </section>
    }
  `,
  styles: `
    h1 { font-size: 1.3rem; }
    .message { background: var(--mat-sys-secondary-container); padding: 8px 12px; border-radius: 8px; }
    .videos { position: relative; background: #000; border-radius: 8px; overflow: hidden; aspect-ratio: 16 / 9; max-height: 70vh; }
    .remote { width: 100%; height: 100%; object-fit: contain; }
    .local { position: absolute; right: 12px; bottom: 12px; width: 24%; border-radius: 6px; transform: scaleX(-1); border: 2px solid #fff; }
    .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; margin-top: 12px; }
    .hangup { background: #c62828; color: #fff; }
  `,
})
export class ChatPage {
  protected readonly relay = inject(RelaySocketService);
  protected readonly auth = inject(AuthService);
  protected readonly call = inject(CallService);
  private readonly remoteVideo = viewChild<ElementRef<HTMLVideoElement>>('remote');
  private readonly localVideo = viewChild<ElementRef<HTMLVideoElement>>('local');
  private readonly now = signal(Date.now());
  protected readonly elapsed = computed(() => {
    const at = this.call.answeredAt();
    if (!at) return '00:00';
    const s = Math.max(0, Math.floor((this.now() - at) / 1000));
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  });

  constructor() {
    effect(() => {
      const el = this.remoteVideo()?.nativeElement;
      if (el) el.srcObject = this.call.remote();
    });
    effect(() => {
      const el = this.localVideo()?.nativeElement;
      if (el) el.srcObject = this.call.local();
    });
    const tick = setInterval(() => this.now.set(Date.now()), 1000);
    inject(DestroyRef).onDestroy(() => {
      clearInterval(tick);
      this.leave();
    });
  }

  /** Leaving the page hangs up. */
  protected leave(): void {
    if (this.call.phase() !== 'idle' && this.call.phase() !== 'ringing') this.call.hangup();
  }
}
