import { HttpClient } from '@angular/common/http';
import { computed, inject, Injectable, signal } from '@angular/core';
import { Router } from '@angular/router';
import { CALL_EVENTS, type CallEnded, type CallIncoming, type CallInviteAck, type CallParty, type CallSignal, type RtcConfig } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';
import { errorText } from '../i18n/messages';
import { RelaySocketService } from '../relay/relay-socket.service';

export type CallPhase = 'idle' | 'calling' | 'ringing' | 'connecting' | 'in-call';

const ENDED_TEXT: Record<CallEnded['reason'], (name: string) => string> = {
  hangup: (n) => $localize`Call with ${n}:name: ended`,
  declined: (n) => $localize`${n}:name: declined the call`,
  timeout: (n) => $localize`${n}:name: did not answer`,
  busy: (n) => $localize`${n}:name: is busy`,
  'peer-disconnected': (n) => $localize`${n}:name: was disconnected`,
};

/**
 * One face-chat call at a time. Media goes peer to peer; the relay socket only carries invitations and the
 * offer/answer/candidates. Lives for the whole signed-in app, so a call rings whatever page is open.
 */
@Injectable({ providedIn: 'root' })
export class CallService {
  private readonly relay = inject(RelaySocketService);
  private readonly http = inject(HttpClient);
  private readonly router = inject(Router);

  readonly phase = signal<CallPhase>('idle');
  readonly peer = signal<CallParty | null>(null);
  readonly message = signal<string | null>(null);
  readonly local = signal<MediaStream | null>(null);
  readonly remote = signal<MediaStream | null>(null);
  readonly muted = signal(false);
  readonly cameraOff = signal(false);
  readonly answeredAt = signal<number | null>(null);
  readonly stats = signal<{ rttMs: number | null; kbps: number | null }>({ rttMs: null, kbps: null });
  readonly busy = computed(() => this.phase() !== 'idle');

  private callId: string | null = null;
  private pc: RTCPeerConnection | null = null;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private statsTimer?: ReturnType<typeof setInterval>;
  private lastBytes: { at: number; bytes: number } | null = null;
  private ringer: { stop(): void } | null = null;

  constructor() {
    this.relay.on(CALL_EVENTS.incoming, (c: CallIncoming) => this.incoming(c));
    this.relay.on(CALL_EVENTS.accepted, (a: { callId: string }) => a.callId === this.callId && void this.startAsCaller());
    this.relay.on(CALL_EVENTS.signal, (s: CallSignal) => s.callId === this.callId && void this.onSignal(s));
    this.relay.on(CALL_EVENTS.ended, (e: CallEnded) => e.callId === this.callId && this.finish(ENDED_TEXT[e.reason](this.peer()?.name ?? $localize`The other side`)));
  }

  async call(to: CallParty): Promise<void> {
    if (this.busy()) return;
    this.message.set(null);
    if (!(await this.openMedia())) return;
    this.peer.set(to);
    this.phase.set('calling');
    const ack = await this.relay.call<CallInviteAck>(CALL_EVENTS.invite, { to: to.userId }).catch(() => null);
    if (!ack?.ok || !ack.callId) {
      const code = ack?.error?.code;
      this.finish(code === 'busy' ? $localize`${to.name}:name: is busy` : code === 'user-offline' ? $localize`${to.name}:name: is not online` : ack?.error ? errorText(ack.error.code, ack.error.message) : $localize`The call could not be placed`);
      return;
    }
    this.callId = ack.callId;
  }

  async accept(): Promise<void> {
    if (this.phase() !== 'ringing' || !this.callId) return;
    this.ringer?.stop();
    if (!(await this.openMedia())) {
      this.relay.emit(CALL_EVENTS.decline, { callId: this.callId });
      this.reset();
      return;
    }
    this.phase.set('connecting');
    await this.createPeer();
    const ack = await this.relay.call<{ ok: boolean }>(CALL_EVENTS.accept, { callId: this.callId }).catch(() => null);
    if (!ack?.ok) this.finish($localize`The call is no longer available`);
    else void this.router.navigateByUrl('/chat');
  }

  decline(): void {
    if (this.phase() !== 'ringing' || !this.callId) return;
    this.relay.emit(CALL_EVENTS.decline, { callId: this.callId });
    this.reset();
  }

  hangup(): void {
    if (this.callId) this.relay.emit(CALL_EVENTS.hangup, { callId: this.callId });
    this.finish(null);
  }

  toggleMute(): void {
    const on = !this.muted();
    this.local()?.getAudioTracks().forEach((t) => (t.enabled = !on));
    this.muted.set(on);
  }

  toggleCamera(): void {
    const off = !this.cameraOff();
    this.local()?.getVideoTracks().forEach((t) => (t.enabled = !off));
    this.cameraOff.set(off);
  }

  private incoming(c: CallIncoming): void {
    if (this.busy()) return; // the server marks us busy; a second invitation cannot reach us
    this.callId = c.callId;
    this.peer.set(c.from);
    this.message.set(null);
    this.phase.set('ringing');
    this.ringer = ring();
  }

  private async openMedia(): Promise<boolean> {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      this.local.set(stream);
      this.muted.set(false);
      this.cameraOff.set(false);
      return true;
    } catch (err) {
      const denied = (err as DOMException)?.name === 'NotAllowedError';
      this.message.set(denied ? $localize`Camera and microphone permission was refused: allow them in the browser to make calls.` : $localize`No camera or microphone could be opened.`);
      return false;
    }
  }

  private async startAsCaller(): Promise<void> {
    this.phase.set('connecting');
    const pc = await this.createPeer();
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.send({ description: { type: offer.type, sdp: offer.sdp } });
  }

  private async createPeer(): Promise<RTCPeerConnection> {
    const config = await firstValueFrom(this.http.get<RtcConfig>('/api/rtc/config')).catch(() => ({ iceServers: [] }));
    const pc = new RTCPeerConnection({ iceServers: config.iceServers });
    this.pc = pc;
    const local = this.local();
    local?.getTracks().forEach((t) => pc.addTrack(t, local));
    const remote = new MediaStream();
    this.remote.set(remote);
    pc.ontrack = (e) => {
      remote.addTrack(e.track);
      this.remote.set(new MediaStream(remote.getTracks()));
    };
    pc.onicecandidate = (e) => e.candidate && this.send({ candidate: e.candidate.toJSON() as CallSignal['candidate'] });
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected' && this.phase() === 'connecting') {
        this.phase.set('in-call');
        this.answeredAt.set(Date.now());
        this.statsTimer = setInterval(() => void this.readStats(), 1000);
      }
      if (pc.connectionState === 'failed') this.hangup();
    };
    return pc;
  }

  private async onSignal(s: CallSignal): Promise<void> {
    const pc = this.pc;
    if (!pc) return;
    if (s.description) {
      await pc.setRemoteDescription(s.description as RTCSessionDescriptionInit);
      for (const c of this.pendingCandidates.splice(0)) await pc.addIceCandidate(c).catch(() => undefined);
      if (s.description.type === 'offer') {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        this.send({ description: { type: answer.type, sdp: answer.sdp } });
      }
    } else if (s.candidate) {
      if (pc.remoteDescription) await pc.addIceCandidate(s.candidate).catch(() => undefined);
      else this.pendingCandidates.push(s.candidate);
    }
  }

  private send(part: Omit<CallSignal, 'callId'>): void {
    if (this.callId) this.relay.emit(CALL_EVENTS.signal, { callId: this.callId, ...part });
  }

  private async readStats(): Promise<void> {
    if (!this.pc) return;
    let rttMs: number | null = null;
    let bytes = 0;
    (await this.pc.getStats()).forEach((r) => {
      if (r.type === 'candidate-pair' && r.nominated && typeof r.currentRoundTripTime === 'number') rttMs = Math.round(r.currentRoundTripTime * 1000);
      if (r.type === 'outbound-rtp') bytes += r.bytesSent ?? 0;
    });
    const now = performance.now();
    const kbps = this.lastBytes ? Math.round(((bytes - this.lastBytes.bytes) * 8) / (now - this.lastBytes.at)) : null;
    this.lastBytes = { at: now, bytes };
    this.stats.set({ rttMs, kbps });
  }

  private finish(message: string | null): void {
    this.message.set(message);
    this.reset();
  }

  private reset(): void {
    this.ringer?.stop();
    this.ringer = null;
    clearInterval(this.statsTimer);
    this.pc?.close();
    this.pc = null;
    this.local()?.getTracks().forEach((t) => t.stop());
    this.local.set(null);
    this.remote.set(null);
    this.callId = null;
    this.pendingCandidates = [];
    this.lastBytes = null;
    this.answeredAt.set(null);
    this.stats.set({ rttMs: null, kbps: null });
    this.peer.set(null);
    this.phase.set('idle');
  }
}

/** A soft two-tone ring from Web Audio, repeated until stopped (no audio file to ship). */
function ring(): { stop(): void } {
  let ctx: AudioContext | null = null;
  try {
    ctx = new AudioContext();
  } catch {
    return { stop: () => undefined };
  }
  const beep = () => {
    for (const [freq, at] of [[660, 0], [880, 0.25]] as const) {
      const osc = ctx!.createOscillator();
      const gain = ctx!.createGain();
      gain.gain.value = 0.05;
      osc.frequency.value = freq;
      osc.connect(gain).connect(ctx!.destination);
      osc.start(ctx!.currentTime + at);
      osc.stop(ctx!.currentTime + at + 0.2);
    }
  };
  beep();
  const timer = setInterval(beep, 2000);
  return {
    stop: () => {
      clearInterval(timer);
      void ctx?.close();
    },
  };
}
