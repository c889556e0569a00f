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
      <h1 i18n>Online now</h1>
      <mat-list aria-label="Online users" i18n-aria-label>
        @for (p of relay.presence(); track p.userId) {
          <mat-list-item>
            <span matListItemTitle>{{ p.name }}@if (p.userId === auth.user()?.id) {<ng-container i18n> (you)</ng-container>}</span>
            <span matListItemLine>@if (p.busy) {<ng-container i18n>in a call</ng-container>} @else {<ng-container i18n>online since {{ p.since | date: 'shortTime' }}</ng-container>}</span>
            <button matListItemMeta mat-stroked-button type="button" [disabled]="p.userId === auth.user()?.id || p.busy" (click)="call.call({ userId: p.userId, name: p.name })" [attr.aria-label]="callLabel(p.name)" i18n>Call</button>
          </mat-list-item>
        } @empty {
          <mat-list-item i18n>Nobody is online.</mat-list-item>
        }
      </mat-list>
    } @else {
      <section class="call" aria-label="Call" i18n-aria-label>
        <h1>@switch (call.phase()) { @case ('calling') {<ng-container i18n>Calling {{ call.peer()?.name }}</ng-container>} @case ('connecting') {<ng-container i18n>Connecting to {{ call.peer()?.name }}</ng-container>} @default {<ng-container i18n>In a call with {{ call.peer()?.name }}</ng-container>} }</h1>
        <div class="videos">
          <video #remote class="remote" aria-label="Remote video" i18n-aria-label autoplay playsinline></video>
          <video #local class="local" aria-label="Your video" i18n-aria-label autoplay playsinline muted></video>
        </div>
        <div class="bar">
          <button mat-stroked-button type="button" (click)="call.toggleMute()" [attr.aria-pressed]="call.muted()">@if (call.muted()) {<ng-container i18n>Unmute</ng-container>} @else {<ng-container i18n>Mute</ng-container>}</button>
          <button mat-stroked-button type="button" (click)="call.toggleCamera()" [attr.aria-pressed]="call.cameraOff()">@if (call.cameraOff()) {<ng-container i18n>Camera on</ng-container>} @else {<ng-container i18n>Camera off</ng-container>}</button>
          <button mat-flat-button class="hangup" type="button" (click)="call.hangup()" i18n>Hang up</button>
          <span aria-label="Call time" i18n-aria-label>{{ elapsed() }}</span>
          <span aria-label="Connection quality" i18n-aria-label i18n>RTT {{ call.stats().rttMs ?? '–' }} ms · out {{ call.stats().kbps ?? '–' }} kbit/s</span>
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
  protected readonly callLabel = (name: string) => $localize`Call ${name}:name:`;
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
