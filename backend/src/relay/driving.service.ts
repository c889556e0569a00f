import { RecordingsService } from '../recordings/recordings.service.js';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'socket.io';
import { ClusterService } from '../cluster/cluster.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { can, RELAY_EVENTS as EV, RELAY_LIMITS, type ControlMessage, type DriveRevoked, type DriverView, type RelayErrorCode, type RelayErrorEvent, type VehicleControl } from '../protocol/index.js';
import { RelaySockets, userOf, type SocketData } from '../sockets/relay-sockets.js';
import { TokenBucket } from './token-bucket.js';
import { PresenceService } from './presence.service.js';
import { RELAY_STATE, type DriverLock, type RelayStateStore } from './relay-state.js';
import { VehicleStateService } from './vehicle-state.service.js';

/** Thrown for a refused driving action; the gateway turns it into an `error` event for the sender. */
export class DrivingError extends Error {
  constructor(readonly code: RelayErrorCode, message: string) {
    super(message);
  }
}

export type StopReason = 'released' | 'lease-expired' | 'driver-disconnected' | 'takeover' | 'unavailable';

/** A seat held by a driver whose socket is on this instance: this instance keeps its lease and forwards its controls. */
interface Seat {
  vehicleId: string;
  socketId: string;
  lastSeq: number;
  lease: NodeJS.Timeout;
  /** Control seq → when it was forwarded, for the round trip measured at the vehicle's ack. */
  pending: Map<number, number>;
  /** The driver was told that the e-stop latch holds its controls back. */
  estopNotified: boolean;
  renewedAt: number;
}

/** What the instance holding a vehicle's socket knows to decide, control by control, whether to pass it on. */
interface Home {
  lock: DriverLock | null;
  estopped: boolean;
  lastForwardAt: number;
  /** The vehicle was told to stop because no control came within the lease (told once). */
  leaseStopped: boolean;
  /** A lookup of the lock in the store is under way (a control came from a driver this instance did not know). */
  refreshing?: boolean;
}

interface Counters {
  controlsIn: number;
  controlsForwarded: number;
  controlsDropped: number;
}

const MAX_PENDING_ACKS = 256;
/** A control whose send time is this far from the server's clock comes from a client that does not sync its clock. */
const UNSYNCED_CLOCK_MS = 5000;
/** A lease is renewed in the shared store at most this often (the driver sends 30–60 controls a second). */
const RENEW_EVERY_MS = 200;
/** How often the vehicle's instance checks the lease of a driver whose controls stopped arriving. */
const WATCHDOG_MS = 100;

const view = (lock: DriverLock): DriverView => ({ userId: lock.userId, name: lock.name });

/**
 * The driving rules, on one instance or many: one driver per vehicle (an atomic lock in the shared store), a lease
 * that ends without controls, admin takeover, the e-stop latch, strictly increasing sequence numbers, a rate limit,
 * and the round trip of every control.
 *
 * A control walks: the driver's instance (seat, rate, latch, seq; renews the lease) → the vehicle's instance (is this
 * still the lock holder? is the latch clear?) → the vehicle → its ack back to the vehicle's instance → the driver's
 * instance, which measured the round trip. On one instance each step is a function call.
 */
@Injectable()
export class DrivingService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('relay');
  private readonly seats = new Map<string, Seat>();
  private readonly homes = new Map<string, Home>();
  /** E-stop latches as last heard; every instance keeps them so a driver is refused without a round trip. */
  private readonly estops = new Set<string>();
  private readonly counters = new Map<string, Counters>();
  private readonly buckets = new WeakMap<Socket, TokenBucket>();
  private watchdog?: NodeJS.Timeout;

  constructor(
    @Inject(RELAY_STATE) private readonly store: RelayStateStore,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
    private readonly presence: PresenceService,
    private readonly state: VehicleStateService,
    private readonly metrics: MetricsService,
    private readonly recordings: RecordingsService,
  ) {}

  onModuleInit(): void {
    this.recordings.useRecorderOf((id) => this.homes.get(id)?.lock?.instanceId);
    this.cluster.handle('forward', (m) => this.forwardHere(m.vehicleId as string, m.seq as number, m.throttle as number, m.steer as number, m.sentAt as number, m.socketId as string));
    this.cluster.handle('control-ack', (m) => this.ackHere(m.vehicleId as string, m.seq as number));
    this.cluster.handle('lock', (m) => this.lockChanged(m.vehicleId as string, m.lock as DriverLock | null, m.socketId as string | undefined, m.stop as StopReason | undefined));
    this.cluster.handle('estop', (m) => this.estopChanged(m.vehicleId as string, m.latched as boolean, m.by as string));
    this.cluster.handle('revoked', (m) => this.revokedHere(m.vehicleId as string, m.socketId as string, m.reason as 'takeover', m.by as DriverView));
    this.presence.onChange((vehicleId, online, local) => {
      // The drive's recording may be on this instance (the driver's) while the vehicle was on another. An old socket's
      // goodbye after the vehicle came back elsewhere is no end: it is known online again.
      if (!online && this.recordings.recording(vehicleId) && this.presence.knownHome(vehicleId) === undefined) {
        this.recordings.event(vehicleId, { kind: 'vehicle-offline' });
        void this.recordings.driveEnded(vehicleId, 'vehicle-offline');
      }
      if (!local) return;
      if (online) void this.vehicleArrived(vehicleId);
      else this.homes.delete(vehicleId);
    });
    this.cluster.on('availability', (up) => (up ? void this.reloadLatches() : this.sharedStateLost()));
    if (this.cluster.clustered) {
      this.watchdog = setInterval(() => void this.checkLeases(), WATCHDOG_MS);
      this.watchdog.unref();
    }
  }

  onModuleDestroy(): void {
    clearInterval(this.watchdog);
    for (const seat of this.seats.values()) clearTimeout(seat.lease);
  }

  // ---- driver side ------------------------------------------------------------------------------------------------

  async acquire(socket: Socket, vehicleId: string, force: boolean): Promise<{ ok: boolean; driver: DriverView | null }> {
    const principal = userOf(socket);
    if (force && !can(principal.role, 'drive:takeover')) throw new DrivingError('forbidden', 'only an admin can take over');
    if (!this.cluster.available) throw new DrivingError('unavailable', 'driving is paused: the shared state is unreachable; it resumes by itself');
    const lock: DriverLock = { userId: principal.userId, name: principal.name, socketId: socket.id, instanceId: this.cluster.instanceId };
    const result = await this.store.acquireDriver(vehicleId, lock, force, RELAY_LIMITS.leaseMs).catch(() => {
      throw new DrivingError('unavailable', 'driving is paused: the shared state is unreachable; it resumes by itself');
    });
    if (!result.ok) {
      const holder = result.holder ? view(result.holder) : null;
      socket.emit(EV.error, { code: 'driver-busy', message: `${holder?.name ?? 'someone'} is driving`, event: EV.driveAcquire } satisfies RelayErrorEvent);
      return { ok: false, driver: holder };
    }
    if (result.replaced) this.cluster.send(result.replaced.instanceId, { t: 'revoked', vehicleId, socketId: result.replaced.socketId, reason: 'takeover', by: view(lock) });
    const prior = this.seats.get(vehicleId);
    if (prior && prior.socketId !== socket.id) clearTimeout(prior.lease);
    const seat: Seat =
      prior?.socketId === socket.id
        ? prior
        : { vehicleId, socketId: socket.id, lastSeq: -1, lease: this.armLease(vehicleId, socket.id), pending: new Map(), estopNotified: false, renewedAt: Date.now() };
    if (seat === prior) seat.lease.refresh();
    seat.estopNotified = false;
    this.seats.set(vehicleId, seat);
    this.metrics.drivers.set(this.seats.size);
    if (await this.store.isEstopped(vehicleId).catch(() => false)) this.estops.add(vehicleId);
    const home = await this.presence.homeOf(vehicleId);
    if (home) this.cluster.send(home, { t: 'lock', vehicleId, lock, stop: result.replaced ? 'takeover' : undefined });
    void this.state.publish(vehicleId);
    if (result.replaced) this.recordings.event(vehicleId, { kind: 'takeover', by: principal.name });
    this.recordings.driveStarted(vehicleId, { ...principal, connectionId: (socket.data as SocketData).connectionId });
    return { ok: true, driver: view(lock) };
  }

  async release(socket: Socket, vehicleId: string): Promise<{ ok: true; driver: null }> {
    const seat = this.seats.get(vehicleId);
    if (seat?.socketId !== socket.id) throw new DrivingError('not-driver', 'you are not driving this vehicle');
    await this.endSeat(seat, 'released');
    return { ok: true, driver: null };
  }

  /** Ends every seat the closing socket held. */
  socketClosed(socket: Socket): void {
    for (const seat of [...this.seats.values()]) if (seat.socketId === socket.id) void this.endSeat(seat, 'driver-disconnected');
  }

  /** The hot path: checks on the driver's instance, then on the vehicle's. */
  control(socket: Socket, msg: ControlMessage): void | Promise<void> {
    const c = this.count(msg.vehicleId);
    c.controlsIn++;
    this.metrics.controlsIn.inc();
    if (!this.takeToken(socket)) {
      c.controlsDropped++;
      this.metrics.controlsRefused.inc();
      const bucket = this.buckets.get(socket)!;
      if (bucket.notified) return;
      bucket.notified = true;
      throw new DrivingError('rate-limited', `at most ${RELAY_LIMITS.controlMaxHz} control messages per second; the excess is dropped`);
    }
    const seat = this.seats.get(msg.vehicleId);
    const refuse = (code: RelayErrorCode, message: string) => {
      c.controlsDropped++;
      this.metrics.controlsRefused.inc();
      return new DrivingError(code, message);
    };
    if (seat?.socketId !== socket.id) throw refuse('not-driver', 'you are not driving this vehicle');
    // What the driver sent, whether or not it is forwarded (during an e-stop it is not): the recording shows both.
    if (this.recordings.recording(msg.vehicleId)) {
      const u = userOf(socket);
      this.recordings.controlReceived(msg.vehicleId, { seq: msg.seq, throttle: msg.throttle, steer: msg.steer, sentAt: msg.sentAt, driverId: u.userId, driver: u.name });
    }
    if (this.estops.has(msg.vehicleId)) {
      // The driver keeps the seat while the latch holds (its controls renew the lease, none is forwarded), so it
      // can clear the e-stop and drive on. Told once per latch, not 30 times a second.
      this.keepLease(seat);
      c.controlsDropped++;
      this.metrics.controlsRefused.inc();
      if (seat.estopNotified) return;
      seat.estopNotified = true;
      throw new DrivingError('estopped', 'e-stop is latched; controls are not forwarded until it is cleared');
    }
    if (msg.seq <= seat.lastSeq) throw refuse('stale-seq', `seq ${msg.seq} is not after ${seat.lastSeq}`);
    seat.lastSeq = msg.seq;
    this.keepLease(seat);
    const known = this.presence.knownHome(msg.vehicleId);
    if (known !== undefined) return this.forward(seat, msg, known, socket.id);
    // Not seen here yet (this instance started after the vehicle connected elsewhere): ask the store once.
    return this.presence.homeOf(msg.vehicleId).then((home) => {
      if (!home) throw refuse('vehicle-offline', 'the vehicle is offline');
      this.forward(seat, msg, home, socket.id);
    });
  }

  private forward(seat: Seat, msg: ControlMessage, home: string, socketId: string): void {
    seat.pending.set(msg.seq, performance.now());
    if (seat.pending.size > MAX_PENDING_ACKS) seat.pending.delete(seat.pending.keys().next().value!);
    // sentAt is the driver's clock corrected to server time; a client that does not sync (far off) is taken at arrival.
    const now = Date.now();
    const sentAt = Math.abs(msg.sentAt - now) > UNSYNCED_CLOCK_MS ? now : msg.sentAt;
    if (home === this.cluster.instanceId) this.forwardHere(msg.vehicleId, msg.seq, msg.throttle, msg.steer, sentAt, socketId);
    else this.cluster.send(home, { t: 'forward', vehicleId: msg.vehicleId, seq: msg.seq, throttle: msg.throttle, steer: msg.steer, sentAt, socketId });
  }

  /** Any watcher (or the driver) may e-stop; it holds until the driver or an admin clears it. */
  async estop(socket: Socket, vehicleId: string, watching: boolean): Promise<void> {
    if (!watching && this.seats.get(vehicleId)?.socketId !== socket.id) throw new DrivingError('not-watching', 'watch the vehicle to e-stop it');
    const by = userOf(socket).name;
    // Safety first: a vehicle connected here stops even when the shared store cannot be written.
    await this.store.setEstop(vehicleId, true).catch((err) => this.logger.error({ err }, 'cannot store an e-stop latch'));
    this.cluster.broadcast({ t: 'estop', vehicleId, latched: true, by });
    void this.state.publish(vehicleId);
  }

  async estopClear(socket: Socket, vehicleId: string): Promise<void> {
    if (this.seats.get(vehicleId)?.socketId !== socket.id && !can(userOf(socket).role, 'estop:clear-any')) throw new DrivingError('forbidden', 'only the driver or an admin can clear the e-stop');
    if (!this.cluster.available) throw new DrivingError('unavailable', 'the shared state is unreachable: the e-stop stays latched');
    await this.store.setEstop(vehicleId, false);
    this.cluster.broadcast({ t: 'estop', vehicleId, latched: false, by: userOf(socket).name });
    void this.state.publish(vehicleId);
  }

  // ---- vehicle side ----------------------------------------------------------------------------------------------

  /** A vehicle connected here acknowledged a control: the round trip goes back to the driver's instance. */
  vehicleAck(vehicleId: string, seq: number): void {
    const lock = this.homes.get(vehicleId)?.lock;
    if (!lock) return;
    if (lock.instanceId === this.cluster.instanceId) this.ackHere(vehicleId, seq);
    else this.cluster.send(lock.instanceId, { t: 'control-ack', vehicleId, seq });
  }

  /** A deleted vehicle. */
  forget(vehicleId: string): void {
    const seat = this.seats.get(vehicleId);
    if (seat) clearTimeout(seat.lease);
    this.seats.delete(vehicleId);
    this.metrics.drivers.set(this.seats.size);
    this.homes.delete(vehicleId);
    this.estops.delete(vehicleId);
    this.counters.delete(vehicleId);
  }

  /** A deleted vehicle's shared state (lock, latch, home). */
  async forgetShared(vehicleId: string): Promise<void> {
    await this.store.forget(vehicleId).catch(() => undefined);
  }

  counts(vehicleId: string): Counters {
    return { ...this.count(vehicleId) };
  }

  // ---- internals --------------------------------------------------------------------------------------------------

  private forwardHere(vehicleId: string, seq: number, throttle: number, steer: number, sentAt: number, socketId: string): void {
    const h = this.homes.get(vehicleId);
    const v = this.presence.local(vehicleId);
    if (!h || !v || h.lock?.socketId !== socketId || h.estopped) {
      this.count(vehicleId).controlsDropped++;
      this.metrics.controlsRefused.inc();
      // A lock change whose message was lost (Redis was away): the store decides, for the next control.
      if (h && !h.estopped && h.lock?.socketId !== socketId) this.refreshLock(vehicleId, h);
      return;
    }
    v.socket.emit(EV.control, { seq, throttle, steer, sentAt } satisfies VehicleControl);
    if (this.recordings.mayRecord(vehicleId)) this.recordings.controlForwarded(vehicleId, { seq, throttle, steer, sentAt, driverId: h.lock.userId, driver: h.lock.name });
    h.lastForwardAt = Date.now();
    h.leaseStopped = false;
    this.count(vehicleId).controlsForwarded++;
    this.metrics.controlsForwarded.inc();
  }

  private refreshLock(vehicleId: string, h: Home): void {
    if (h.refreshing || !this.cluster.clustered || !this.cluster.available) return;
    h.refreshing = true;
    void this.store
      .driverOf(vehicleId)
      .then((lock) => {
        if (this.homes.get(vehicleId) === h) h.lock = lock;
      })
      .catch(() => undefined)
      .finally(() => (h.refreshing = false));
  }

  private ackHere(vehicleId: string, seq: number): void {
    const seat = this.seats.get(vehicleId);
    const sentAt = seat?.pending.get(seq);
    if (!seat || sentAt === undefined) return;
    seat.pending.delete(seq);
    const rttMs = performance.now() - sentAt;
    this.metrics.observeControlRtt(rttMs);
    this.recordings.controlAck(vehicleId, seq, rttMs);
    this.sockets.socket(seat.socketId)?.emit(EV.controlAck, { seq, rttMs: Math.round(rttMs * 100) / 100 });
  }

  /** On the vehicle's instance: who may drive it now; `stop` tells the vehicle why the previous driver left. */
  private lockChanged(vehicleId: string, lock: DriverLock | null, socketId: string | undefined, stop: StopReason | undefined): void {
    const h = this.homes.get(vehicleId);
    if (!h) return;
    // A release only counts for the driver it names: a takeover may have happened since.
    if (!lock && socketId && h.lock && h.lock.socketId !== socketId) return;
    h.lock = lock;
    h.lastForwardAt = Date.now();
    h.leaseStopped = false;
    if (stop) this.presence.local(vehicleId)?.socket.emit(EV.stop, { reason: stop });
  }

  private estopChanged(vehicleId: string, latched: boolean, by: string): void {
    this.recordings.event(vehicleId, { kind: latched ? 'estop' : 'estop-clear', by });
    if (latched) this.estops.add(vehicleId);
    else this.estops.delete(vehicleId);
    const seat = this.seats.get(vehicleId);
    if (seat && !latched) seat.estopNotified = false;
    const h = this.homes.get(vehicleId);
    const v = this.presence.local(vehicleId);
    if (h) h.estopped = latched;
    if (v) v.socket.emit(latched ? EV.estop : EV.estopClear, latched ? { by } : {});
  }

  private revokedHere(vehicleId: string, socketId: string, reason: 'takeover', by: DriverView): void {
    const seat = this.seats.get(vehicleId);
    if (seat?.socketId !== socketId) return;
    clearTimeout(seat.lease);
    this.seats.delete(vehicleId);
    this.metrics.drivers.set(this.seats.size);
    this.sockets.socket(socketId)?.emit(EV.driveRevoked, { vehicleId, reason, by } satisfies DriveRevoked);
    void this.recordings.driveEnded(vehicleId, 'takeover');
  }

  /** A vehicle connected here: who drives it, and whether it is latched — a latched vehicle is told at once. */
  private async vehicleArrived(vehicleId: string): Promise<void> {
    const h: Home = { lock: null, estopped: false, lastForwardAt: Date.now(), leaseStopped: false };
    this.homes.set(vehicleId, h);
    const [lock, estopped] = await Promise.all([this.store.driverOf(vehicleId).catch(() => null), this.store.isEstopped(vehicleId).catch(() => false)]);
    h.lock = h.lock ?? lock;
    h.estopped = h.estopped || estopped;
    if (h.estopped) {
      this.estops.add(vehicleId);
      this.presence.local(vehicleId)?.socket.emit(EV.estop, { by: 'latched' });
    }
  }

  private armLease(vehicleId: string, socketId: string): NodeJS.Timeout {
    return setTimeout(() => {
      const seat = this.seats.get(vehicleId);
      if (seat?.socketId === socketId) void this.endSeat(seat, 'lease-expired');
    }, RELAY_LIMITS.leaseMs);
  }

  private keepLease(seat: Seat): void {
    seat.lease.refresh();
    if (!this.cluster.clustered) return;
    const now = Date.now();
    if (now - seat.renewedAt < RENEW_EVERY_MS) return;
    seat.renewedAt = now;
    void this.store.renewDriver(seat.vehicleId, seat.socketId, RELAY_LIMITS.leaseMs).then(
      (held) => {
        // The lease ran out in the store (a stall longer than the lease): the seat is gone.
        if (!held && this.seats.get(seat.vehicleId) === seat) void this.endSeat(seat, 'lease-expired');
      },
      () => undefined,
    );
  }

  /** Frees a seat held here: the vehicle is stopped (by its instance), the driver (unless it asked) and everyone told. */
  private async endSeat(seat: Seat, reason: 'released' | 'lease-expired' | 'driver-disconnected'): Promise<void> {
    if (this.seats.get(seat.vehicleId) !== seat) return;
    this.seats.delete(seat.vehicleId);
    this.metrics.drivers.set(this.seats.size);
    clearTimeout(seat.lease);
    this.recordings.event(seat.vehicleId, { kind: reason === 'released' ? 'release' : reason });
    void this.recordings.driveEnded(seat.vehicleId, reason);
    await this.store.releaseDriver(seat.vehicleId, seat.socketId).catch(() => null);
    const home = await this.presence.homeOf(seat.vehicleId);
    if (home) this.cluster.send(home, { t: 'lock', vehicleId: seat.vehicleId, lock: null, socketId: seat.socketId, stop: reason });
    if (reason === 'lease-expired') this.sockets.socket(seat.socketId)?.emit(EV.driveRevoked, { vehicleId: seat.vehicleId, reason } satisfies DriveRevoked);
    await this.state.publish(seat.vehicleId);
  }

  /**
   * On the vehicle's instance: no control for a whole lease means the lease is over, whatever happened to the
   * driver's instance (it may have died): the vehicle stops at once. The lock itself is free when the store says so.
   */
  private async checkLeases(): Promise<void> {
    const now = Date.now();
    for (const [vehicleId, h] of this.homes) {
      if (!h.lock || now - h.lastForwardAt < RELAY_LIMITS.leaseMs) continue;
      if (!h.leaseStopped && !h.estopped) {
        h.leaseStopped = true;
        this.presence.local(vehicleId)?.socket.emit(EV.stop, { reason: 'lease-expired' });
      }
      if (!this.cluster.available) continue;
      const lock = await this.store.driverOf(vehicleId).catch(() => undefined);
      if (lock === undefined || this.homes.get(vehicleId) !== h || (lock && lock.socketId === h.lock?.socketId)) continue;
      h.lock = lock;
      h.lastForwardAt = now;
      if (!lock) void this.state.publish(vehicleId);
    }
  }

  /** Redis is unreachable: no lock can be checked, so every vehicle here stops and every driver here is told. */
  private sharedStateLost(): void {
    for (const seat of [...this.seats.values()]) {
      clearTimeout(seat.lease);
      this.seats.delete(seat.vehicleId);
      this.metrics.drivers.set(this.seats.size);
      this.sockets.socket(seat.socketId)?.emit(EV.driveRevoked, { vehicleId: seat.vehicleId, reason: 'unavailable' } satisfies DriveRevoked);
      void this.recordings.driveEnded(seat.vehicleId, 'unavailable');
    }
    for (const [vehicleId, h] of this.homes) {
      if (h.lock) this.presence.local(vehicleId)?.socket.emit(EV.stop, { reason: 'unavailable' });
      h.lock = null;
    }
  }

  /** Redis is back: the vehicles here learn their latch and lock again from it. */
  private async reloadLatches(): Promise<void> {
    for (const [vehicleId, h] of this.homes) {
      const [estopped, lock] = await Promise.all([this.store.isEstopped(vehicleId).catch(() => h.estopped), this.store.driverOf(vehicleId).catch(() => null)]);
      h.estopped = estopped;
      h.lock = h.lock ?? lock;
      if (estopped) this.estops.add(vehicleId);
    }
  }

  private count(vehicleId: string): Counters {
    let c = this.counters.get(vehicleId);
    if (!c) this.counters.set(vehicleId, (c = { controlsIn: 0, controlsForwarded: 0, controlsDropped: 0 }));
    return c;
  }

  private takeToken(socket: Socket): boolean {
    let b = this.buckets.get(socket);
    if (!b) this.buckets.set(socket, (b = new TokenBucket(RELAY_LIMITS.controlMaxHz, RELAY_LIMITS.controlBurst)));
    return b.take();
  }
}
