import { HttpClient } from '@angular/common/http';
import { computed, DestroyRef, effect, inject, Injectable, signal, untracked } from '@angular/core';
import { RELAY_EVENTS as EV, RELAY_LIMITS, type ControlAckToDriver, type DriveAck, type DriveRevoked, type Telemetry, type VehicleState, type VehicleView, type VideoCodec, type WatchAck } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';
import { AuthService } from '../auth/auth.service';
import { RelaySocketService } from '../relay/relay-socket.service';
import { ToastService } from '../shell/toast.service';
import { ControlInput, ControlLoop, gamepadAxes, ZERO, type Axes } from './control-input';
import { canDecodeH264 } from './h264-support';
import { driveRevokedMessage, errorText } from '../i18n/messages';

/** The drive page's state: the vehicle list, the watched vehicle, and driving it. Provided per page. */
@Injectable()
export class DriveSession {
  private readonly http = inject(HttpClient);
  private readonly relay = inject(RelaySocketService);
  private readonly auth = inject(AuthService);
  private readonly toast = inject(ToastService);

  readonly vehicles = signal<VehicleView[]>([]);
  readonly selectedId = signal<string | null>(null);
  readonly selected = computed(() => this.vehicles().find((v) => v.id === this.selectedId()) ?? null);
  readonly telemetry = signal<Telemetry | null>(null);
  readonly driving = signal(false);
  readonly rttMs = signal<number | null>(null);
  /** Capture → drawn of the last frame, in server time (set by the video panel). */
  readonly videoLatencyMs = signal<number | null>(null);
  readonly command = signal<Axes>(ZERO);
  readonly someoneElseDrives = computed(() => {
    const d = this.selected()?.driver;
    return !!d && !(this.driving() && d.userId === this.auth.user()?.id);
  });
  readonly canClearEstop = computed(() => this.driving() || this.auth.can('estop:clear-any'));
  /** No frame drawn for RELAY_LIMITS.staleVideoMs: the pad sends zero until the picture returns. */
  readonly blind = signal(false);
  /** The codec this page gets from the selected vehicle. */
  readonly codec = signal<VideoCodec | null>(null);
  private lastDrawnAt = 0;
  private codecs: Promise<VideoCodec[]> = canDecodeH264().then((ok) => (ok ? ['h264', 'jpeg'] : ['jpeg']));

  readonly input = new ControlInput();
  private readonly loop = new ControlLoop(
    () => this.safeAxes(),
    (axes, seq) => {
      const id = this.selectedId();
      if (!id) return;
      this.command.set(axes);
      this.relay.emitVolatile(EV.control, { vehicleId: id, seq, throttle: axes.throttle, steer: axes.steer, sentAt: Math.round(this.relay.serverNow()) });
    },
    undefined,
    () => this.pollGamepad(),
  );

  constructor() {
    const off = [
      this.relay.on(EV.vehicleState, (s: VehicleState) => this.applyState(s)),
      this.relay.on(EV.telemetry, (t: Telemetry & { vehicleId: string }) => t.vehicleId === this.selectedId() && this.telemetry.set(t)),
      this.relay.on(EV.controlAck, (a: ControlAckToDriver) => this.rttMs.set(a.rttMs)),
      this.relay.on(EV.driveRevoked, (r: DriveRevoked) => {
        if (r.vehicleId !== this.selectedId()) return;
        this.stopDriving();
        this.toast.info(driveRevokedMessage(r));
      }),
    ];
    // After a reconnect the server knows nothing of us: watch again; driving has ended.
    effect(() => {
      if (this.relay.status() !== 'connected') return;
      untracked(() => {
        this.stopDriving();
        void this.load();
        const id = this.selectedId();
        if (id) void this.watch(id);
      });
    });
    inject(DestroyRef).onDestroy(() => {
      this.leave();
      off.forEach((f) => f());
    });
  }

  async load(): Promise<void> {
    try {
      const list = await firstValueFrom(this.http.get<VehicleView[]>('/api/vehicles'));
      this.vehicles.set(list);
      if (!this.selectedId()) {
        const first = list.find((v) => v.online) ?? list[0];
        if (first) await this.select(first.id);
      }
    } catch (err) {
      this.toast.error(err, $localize`Cannot load the vehicles`);
    }
  }

  async select(id: string): Promise<void> {
    const previous = this.selectedId();
    if (previous === id) return;
    if (this.driving()) await this.release();
    if (previous && this.relay.connected) void this.relay.call(EV.unwatch, { vehicleId: previous }).catch(() => undefined);
    this.selectedId.set(id);
    this.telemetry.set(null);
    this.rttMs.set(null);
    this.videoLatencyMs.set(null);
    await this.watch(id);
  }

  async acquire(force = false): Promise<void> {
    const id = this.selectedId();
    if (!id) return;
    try {
      const ack = await this.relay.call<DriveAck>(EV.driveAcquire, { vehicleId: id, force });
      if (!ack.ok) {
        this.toast.error(ack.error?.code === 'driver-busy' || ack.driver ? $localize`${ack.driver?.name ?? $localize`Someone`}:name: is driving` : ack.error ? errorText(ack.error.code, ack.error.message) : $localize`Cannot take control`);
        return;
      }
      this.input.clear();
      this.driving.set(true);
      this.lastDrawnAt = Date.now(); // the picture is live when control is taken; the lockout counts from here
      this.loop.start();
    } catch (err) {
      this.toast.error(err, $localize`Cannot take control`);
    }
  }

  /** Stops the car and gives the controls back. */
  async release(): Promise<void> {
    const id = this.selectedId();
    const was = this.driving();
    this.stopDriving();
    if (was && id && this.relay.connected) await this.relay.call(EV.driveRelease, { vehicleId: id }).catch(() => undefined);
  }

  async estop(): Promise<void> {
    const id = this.selectedId();
    if (!id) return;
    const ack = await this.relay.call<WatchAck>(EV.estop, { vehicleId: id }).catch(() => null);
    if (!ack?.ok) this.toast.error(ack?.error ? errorText(ack.error.code, ack.error.message) : $localize`E-stop could not be sent — is the connection up?`);
  }

  async clearEstop(): Promise<void> {
    const id = this.selectedId();
    if (!id) return;
    const ack = await this.relay.call<WatchAck>(EV.estopClear, { vehicleId: id }).catch(() => null);
    if (!ack?.ok) this.toast.error(ack?.error ? errorText(ack.error.code, ack.error.message) : $localize`Cannot clear the e-stop`);
  }

  /** The video panel drew a frame. */
  videoDrawn(at: number): void {
    this.lastDrawnAt = at;
    if (this.blind()) {
      this.blind.set(false);
      this.loop.nudge();
    }
  }

  /** What the pad sends: the input, or zero while the operator cannot see (nobody drives blind). */
  private safeAxes(): Axes {
    const stale = Date.now() - this.lastDrawnAt > RELAY_LIMITS.staleVideoMs;
    if (stale !== this.blind()) this.blind.set(stale);
    return stale ? ZERO : this.input.axes();
  }

  /** Input changed (key, joystick): send now. */
  inputChanged(): void {
    this.loop.nudge();
  }

  /** The page lost focus or is going away: stop the car and release. */
  emergencyRelease(): void {
    if (!this.driving()) return;
    const id = this.selectedId();
    this.stopDriving();
    if (id) this.relay.emit(EV.driveRelease, { vehicleId: id });
  }

  private async watch(id: string): Promise<void> {
    try {
      const ack = await this.relay.call<WatchAck>(EV.watch, { vehicleId: id, codecs: await this.codecs });
      if (ack.ok && ack.codec) this.codec.set(ack.codec);
      if (!ack.ok && ack.error) this.toast.error(errorText(ack.error.code, ack.error.message));
      if (ack.ok && ack.state) this.applyState(ack.state);
    } catch {
      // not connected yet: the reconnect effect watches again
    }
  }

  private stopDriving(): void {
    this.input.clear();
    if (this.loop.running) this.loop.stop();
    this.command.set(ZERO);
    this.driving.set(false);
  }

  private leave(): void {
    this.emergencyRelease();
    const id = this.selectedId();
    if (id && this.relay.connected) this.relay.emit(EV.unwatch, { vehicleId: id });
  }

  private applyState(s: VehicleState): void {
    const before = this.vehicles().find((v) => v.id === s.vehicleId);
    if (s.vehicleId === this.selectedId() && before && before.estopped !== s.estopped) {
      // Say what happened to the car, whoever pressed it.
      if (s.estopped) this.toast.info(this.driving() ? $localize`E-STOP latched: the car is stopped. You keep the controls; clear E-STOP to drive on.` : $localize`E-STOP latched: the car is stopped`);
      else this.toast.info($localize`E-STOP cleared`);
    }
    this.vehicles.update((list) => list.map((v) => (v.id === s.vehicleId ? { ...v, online: s.online, driver: s.driver, estopped: s.estopped, viewers: s.viewers, fps: s.fps } : v)));
    if (s.vehicleId === this.selectedId() && this.driving() && s.driver?.userId !== this.auth.user()?.id) {
      this.stopDriving();
      if (!s.driver) this.toast.info(s.online ? $localize`Control released` : $localize`Control released: the vehicle went offline`);
    }
    if (s.vehicleId !== this.selectedId() && !this.vehicles().some((v) => v.id === s.vehicleId)) void this.load();
  }

  private pollGamepad(): void {
    const pads = typeof navigator !== 'undefined' && navigator.getGamepads ? navigator.getGamepads() : [];
    const pad = pads.find((p) => p && p.connected) ?? null;
    this.input.setGamepad(gamepadAxes(pad));
  }
}
