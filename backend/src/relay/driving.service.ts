import { RecordingsService } from '../recordings/recordings.service.js';
import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import type { Socket } from 'socket.io';
import { ClusterService } from '../cluster/cluster.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import {
  can,
  RELAY_EVENTS as EV,
  RELAY_LIMITS,
  type ControlMessage,
  type DriveRevoked,
  type DriverView,
  type RelayErrorCode,
  type RelayErrorEvent,
  type VehicleControl,
  type VehicleEstop,
  type VehicleEstopClear,
  type VehicleSeat,
} from '../protocol/index.js';
import { RelaySockets, userOf, type SocketData } from '../sockets/relay-sockets.js';
import { TokenBucket } from './token-bucket.js';
import { EstopService, EstopUnavailableError } from './estop.service.js';
import { PresenceService } from './presence.service.js';
import { nextFence, RELAY_STATE, type DriverLock, type RelayStateStore } from './relay-state.js';
import { VehicleStateService } from './vehicle-state.service.js';

/** Thrown for a refused driving action; the gateway turns it into an `error` event for the sender. */
export class DrivingError extends Error {
  constructor(readonly code: RelayErrorCode, message: string) {
    super(message);
  }
}

export type StopReason = 'released' | 'lease-expired' | 'driver-disconnected' | 'takeover' | 'unavailable' | 'vehicle-lost';

/** A seat held by a driver whose socket is on this instance: this instance keeps its lease and forwards its controls. */
interface Seat {
  vehicleId: string;
  socketId: string;
  /** The fencing token of this acquisition; every control carries it to the vehicle. */
  fence: number;
  /**
   * When the last renewal that the store confirmed was sent: the lease is known to hold until this plus the lease.
   * Past that (the store is slow or frozen) no control is forwarded, whatever the driver sends.
   */
  confirmedAt: number;
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
  /**
   * Locks with a token at or below this one are from before the vehicle's connection (or before a Redis outage): they
   * never drive it, and are ended when seen. Tokens are clock-based, so this is the time of the event in µs.
   */
  staleFence: number;
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
  private readonly counters = new Map<string, Counters>();
  private readonly buckets = new WeakMap<Socket, TokenBucket>();
  private watchdog?: NodeJS.Timeout;
  /**
   * Acquisitions that failed past the store's deadline may still land when it answers again: once it does, their
   * lock is freed (unless the socket holds a seat here by then).
   */
  private readonly orphans = new Map<string, string>();

  constructor(
    @Inject(RELAY_STATE) private readonly store: RelayStateStore,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
    private readonly presence: PresenceService,
    private readonly state: VehicleStateService,
    private readonly metrics: MetricsService,
    private readonly recordings: RecordingsService,
    private readonly estops: EstopService,
  ) {}

  onModuleInit(): void {
    this.recordings.useRecorderOf((id) => this.homes.get(id)?.lock?.instanceId);
    this.cluster.handle('forward', (m) => this.forwardHere(m.vehicleId as string, { seq: m.seq as number, throttle: m.throttle as number, steer: m.steer as number, sentAt: m.sentAt as number, fence: m.fence as number }, m.socketId as string));
    this.cluster.handle('control-ack', (m) => this.ackHere(m.vehicleId as string, m.seq as number));
    this.cluster.handle('lock', (m) => this.lockChanged(m.vehicleId as string, m.lock as DriverLock | null, m.socketId as string | undefined, m.stop as StopReason | undefined));
    this.estops.onChange((vehicleId, latched, gen, by, toggled) => this.estopChanged(vehicleId, latched, gen, by, toggled));
    this.cluster.handle('revoked', (m) => this.revokedHere(m.vehicleId as string, m.socketId as string, m.reason as 'takeover' | 'vehicle-lost', m.by as DriverView | undefined));
    this.presence.onChange((vehicleId, online, local) => {
      // The drive's recording may be on this instance (the driver's) while the vehicle was on another. An old socket's
      // goodbye after the vehicle came back elsewhere is no end: it is known online again.
      if (!online && this.recordings.recording(vehicleId) && this.presence.knownHome(vehicleId) === undefined) {
        this.recordings.event(vehicleId, { kind: 'vehicle-offline' });
        void this.recordings.driveEnded(vehicleId, 'vehicle-offline');
      }
      // The seat follows the vehicle: its connection ended, so does the drive (a new connection needs a new acquire).
      const seat = this.seats.get(vehicleId);
      if (!online && seat) void this.endSeat(seat, 'vehicle-lost');
      if (!local) return;
      if (online) void this.vehicleArrived(vehicleId);
      else this.homes.delete(vehicleId);
    });
    this.cluster.on('availability', (up) => (up ? this.freeOrphans() : this.sharedStateLost()));
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
    const startedAt = Date.now();
    const wanted = { userId: principal.userId, name: principal.name, socketId: socket.id, instanceId: this.cluster.instanceId };
    const result = await this.store.acquireDriver(vehicleId, wanted, force, RELAY_LIMITS.leaseMs).catch(() => {
      // Past the deadline the store may still take it later: that lock is freed once the store answers again.
      this.orphans.set(vehicleId, socket.id);
      throw new DrivingError('unavailable', 'driving is paused: the shared state is unreachable; it resumes by itself');
    });
    if (!result.ok) {
      const holder = result.holder ? view(result.holder) : null;
      socket.emit(EV.error, { code: 'driver-busy', message: `${holder?.name ?? 'someone'} is driving`, event: EV.driveAcquire } satisfies RelayErrorEvent);
      return { ok: false, driver: holder };
    }
    const lock = result.holder!;
    // The socket closed while the store answered: its lock must not outlive it (nobody would free it but the lease).
    if (socket.disconnected) {
      await this.store.releaseDriver(vehicleId, socket.id).catch(() => this.orphans.set(vehicleId, socket.id));
      return { ok: false, driver: null };
    }
    if (result.replaced) this.cluster.send(result.replaced.instanceId, { t: 'revoked', vehicleId, socketId: result.replaced.socketId, reason: 'takeover', by: view(lock) });
    const prior = this.seats.get(vehicleId);
    if (prior && prior.socketId !== socket.id) clearTimeout(prior.lease);
    const seat: Seat =
      prior?.socketId === socket.id
        ? prior
        : { vehicleId, socketId: socket.id, fence: lock.fence, confirmedAt: startedAt, lastSeq: -1, lease: this.armLease(vehicleId, socket.id), pending: new Map(), estopNotified: false, renewedAt: startedAt };
    if (seat === prior) seat.lease.refresh();
    seat.fence = lock.fence;
    seat.confirmedAt = startedAt;
    seat.estopNotified = false;
    this.seats.set(vehicleId, seat);
    this.metrics.drivers.set(this.seats.size);
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
    if (this.estops.isLatched(msg.vehicleId)) {
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
    // The store has not confirmed the lease for a whole lease: it may have ended there. Nothing moves on a lease
    // that may be dead; the renewal's answer (or the store's deadline) settles the seat.
    if (this.cluster.clustered && Date.now() - seat.confirmedAt >= RELAY_LIMITS.leaseMs) {
      c.controlsDropped++;
      this.metrics.controlsRefused.inc();
      return;
    }
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
    const cmd: VehicleControl = { seq: msg.seq, throttle: msg.throttle, steer: msg.steer, sentAt, fence: seat.fence };
    if (home === this.cluster.instanceId) this.forwardHere(msg.vehicleId, cmd, socketId);
    else this.cluster.send(home, { t: 'forward', vehicleId: msg.vehicleId, ...cmd, socketId });
  }

  /** Any watcher (or the driver) may e-stop; it holds until the driver or an admin clears it. */
  async estop(socket: Socket, vehicleId: string, watching: boolean): Promise<void> {
    if (!watching && this.seats.get(vehicleId)?.socketId !== socket.id) throw new DrivingError('not-watching', 'watch the vehicle to e-stop it');
    // Safety first: the vehicle stops at once, even when the database or Redis cannot be written (then it is retried).
    await this.estops.latch(vehicleId, userOf(socket).name);
  }

  async estopClear(socket: Socket, vehicleId: string): Promise<void> {
    const seat = this.seats.get(vehicleId);
    const admin = can(userOf(socket).role, 'estop:clear-any');
    if (seat?.socketId !== socket.id && !admin) throw new DrivingError('forbidden', 'only the driver or an admin can clear the e-stop');
    if (!this.cluster.available) throw new DrivingError('unavailable', 'the shared state is unreachable: the e-stop stays latched');
    // Fenced: a driver clears only while its acquisition is still the current one in the store.
    if (!admin && this.cluster.clustered) {
      const current = await this.store.driverOf(vehicleId).catch(() => {
        throw new DrivingError('unavailable', 'the shared state is unreachable: the e-stop stays latched');
      });
      if (current?.fence !== seat!.fence) throw new DrivingError('not-driver', 'your seat has ended: the e-stop stays latched');
    }
    await this.estops.clear(vehicleId, userOf(socket).name).catch((err) => {
      throw err instanceof EstopUnavailableError ? new DrivingError('unavailable', err.message) : err;
    });
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
    this.counters.delete(vehicleId);
  }

  /** A deleted vehicle's shared state (lock, latch, home). */
  async forgetShared(vehicleId: string): Promise<void> {
    await this.store.forget(vehicleId).catch(() => undefined);
    await this.estops.forget(vehicleId);
  }

  counts(vehicleId: string): Counters {
    return { ...this.count(vehicleId) };
  }

  // ---- internals --------------------------------------------------------------------------------------------------

  private forwardHere(vehicleId: string, cmd: VehicleControl, socketId: string): void {
    const h = this.homes.get(vehicleId);
    const v = this.presence.local(vehicleId);
    const drop = () => {
      this.count(vehicleId).controlsDropped++;
      this.metrics.controlsRefused.inc();
    };
    if (!h || !v || this.estops.isLatched(vehicleId)) return drop();
    // A control held up on the way (a frozen Redis releasing its backlog at once) is not safe to apply any more.
    if (Date.now() - cmd.sentAt > RELAY_LIMITS.staleControlMs) return drop();
    if (h.lock?.socketId !== socketId || h.lock.fence !== cmd.fence) {
      drop();
      // A lock this instance has not heard of (its message was lost while Redis was away), or one from before the
      // vehicle's connection that still sends: the store decides — adopted if newer, ended if stale.
      this.refreshLock(vehicleId, h);
      return;
    }
    v.socket.emit(EV.control, cmd);
    if (this.recordings.mayRecord(vehicleId)) this.recordings.controlForwarded(vehicleId, { seq: cmd.seq, throttle: cmd.throttle, steer: cmd.steer, sentAt: cmd.sentAt, driverId: h.lock.userId, driver: h.lock.name });
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
        if (this.homes.get(vehicleId) === h && lock) this.lockChanged(vehicleId, lock, undefined, undefined);
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

  /**
   * On the vehicle's instance: who may drive it now; `stop` tells the vehicle why the previous driver left. Only a
   * newer token replaces the lock (messages can come late, twice, or out of order); the vehicle hears `seat` first.
   */
  private lockChanged(vehicleId: string, lock: DriverLock | null, socketId: string | undefined, stop: StopReason | undefined): void {
    const h = this.homes.get(vehicleId);
    if (!h) return;
    const v = this.presence.local(vehicleId);
    if (!lock) {
      // A release only counts for the driver it names: a takeover may have happened since.
      if (!h.lock || (socketId && h.lock.socketId !== socketId)) return;
      h.lock = null;
      h.leaseStopped = false;
      if (stop) v?.socket.emit(EV.stop, { reason: stop });
      return;
    }
    if (lock.fence <= h.staleFence) return this.endStaleLock(vehicleId, lock);
    if (h.lock && lock.fence <= h.lock.fence) return;
    h.lock = lock;
    h.lastForwardAt = Date.now();
    h.leaseStopped = false;
    if (stop) v?.socket.emit(EV.stop, { reason: stop });
    v?.socket.emit(EV.seat, { fence: lock.fence } satisfies VehicleSeat);
  }

  /** A lock from before the vehicle's connection: it never drives this vehicle; it is freed and its driver told. */
  private endStaleLock(vehicleId: string, lock: DriverLock): void {
    void this.store
      .releaseDriver(vehicleId, lock.socketId)
      .catch(() => null)
      .then(() => {
        this.cluster.send(lock.instanceId, { t: 'revoked', vehicleId, socketId: lock.socketId, reason: 'vehicle-lost' });
        return this.state.publish(vehicleId);
      });
  }

  private estopChanged(vehicleId: string, latched: boolean, gen: number | null, by: string, toggled: boolean): void {
    if (toggled) this.recordings.event(vehicleId, { kind: latched ? 'estop' : 'estop-clear', by });
    const seat = this.seats.get(vehicleId);
    if (seat && !latched) seat.estopNotified = false;
    const v = this.presence.local(vehicleId);
    if (latched) v?.socket.emit(EV.estop, { by, gen } satisfies VehicleEstop);
    else if (gen !== null) v?.socket.emit(EV.estopClear, { gen } satisfies VehicleEstopClear);
    // Every instance hears the change (or heals it from the database) and tells its own sockets.
    if (toggled) void this.state.publish(vehicleId, { everyone: true, localOnly: true });
  }

  private revokedHere(vehicleId: string, socketId: string, reason: 'takeover' | 'vehicle-lost', by: DriverView | undefined): void {
    const seat = this.seats.get(vehicleId);
    if (seat?.socketId !== socketId) return;
    if (reason === 'vehicle-lost') return void this.endSeat(seat, reason);
    clearTimeout(seat.lease);
    this.seats.delete(vehicleId);
    this.metrics.drivers.set(this.seats.size);
    this.sockets.socket(socketId)?.emit(EV.driveRevoked, { vehicleId, reason, by } satisfies DriveRevoked);
    void this.recordings.driveEnded(vehicleId, 'takeover');
  }

  /**
   * A vehicle connected here: it is driven only after an acquisition made from now on (a lock from before, held by a
   * driver of its previous connection, is ended), and a latched vehicle is told at once.
   */
  private async vehicleArrived(vehicleId: string): Promise<void> {
    // Any lock acquired from this millisecond on is this connection's.
    const h: Home = { lock: null, staleFence: nextFence(0) - 1, lastForwardAt: Date.now(), leaseStopped: false };
    this.homes.set(vehicleId, h);
    if (this.estops.isLatched(vehicleId)) this.presence.local(vehicleId)?.socket.emit(EV.estop, { by: 'latched', gen: this.estops.generation(vehicleId) } satisfies VehicleEstop);
    const lock = await this.store.driverOf(vehicleId).catch(() => null);
    if (lock && this.homes.get(vehicleId) === h && lock.fence <= h.staleFence) this.endStaleLock(vehicleId, lock);
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
        if (held) seat.confirmedAt = Math.max(seat.confirmedAt, now);
        // The lease ran out in the store (a stall longer than the lease): the seat is gone.
        else if (this.seats.get(seat.vehicleId) === seat) void this.endSeat(seat, 'lease-expired');
      },
      () => undefined,
    );
  }

  /** Frees a seat held here: the vehicle is stopped (by its instance), the driver (unless it asked) and everyone told. */
  private async endSeat(seat: Seat, reason: 'released' | 'lease-expired' | 'driver-disconnected' | 'vehicle-lost'): Promise<void> {
    if (this.seats.get(seat.vehicleId) !== seat) return;
    this.seats.delete(seat.vehicleId);
    this.metrics.drivers.set(this.seats.size);
    clearTimeout(seat.lease);
    const ended = reason === 'vehicle-lost' ? 'vehicle-offline' : reason;
    // A vehicle that went offline is in the recording already (the presence listener).
    if (reason !== 'vehicle-lost') this.recordings.event(seat.vehicleId, { kind: reason === 'released' ? 'release' : reason });
    void this.recordings.driveEnded(seat.vehicleId, ended);
    if (reason === 'lease-expired' || reason === 'vehicle-lost') this.sockets.socket(seat.socketId)?.emit(EV.driveRevoked, { vehicleId: seat.vehicleId, reason } satisfies DriveRevoked);
    await this.store.releaseDriver(seat.vehicleId, seat.socketId).catch(() => null);
    const home = reason === 'vehicle-lost' ? null : await this.presence.homeOf(seat.vehicleId);
    if (home) this.cluster.send(home, { t: 'lock', vehicleId: seat.vehicleId, lock: null, socketId: seat.socketId, stop: reason });
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
      if (!h.leaseStopped) {
        h.leaseStopped = true;
        this.presence.local(vehicleId)?.socket.emit(EV.stop, { reason: 'lease-expired' });
      }
      if (!this.cluster.available) continue;
      const lock = await this.store.driverOf(vehicleId).catch(() => undefined);
      if (lock === undefined || this.homes.get(vehicleId) !== h || lock?.fence === h.lock?.fence) continue;
      if (lock) this.lockChanged(vehicleId, lock, undefined, undefined);
      else {
        h.lock = null;
        void this.state.publish(vehicleId);
      }
    }
  }

  /**
   * Redis is unreachable (or past its deadline): no lock can be checked, so every vehicle here stops, every driver
   * here is told, and no lock from before the outage will drive a vehicle here again.
   */
  private sharedStateLost(): void {
    for (const seat of [...this.seats.values()]) {
      clearTimeout(seat.lease);
      this.seats.delete(seat.vehicleId);
      this.metrics.drivers.set(this.seats.size);
      this.sockets.socket(seat.socketId)?.emit(EV.driveRevoked, { vehicleId: seat.vehicleId, reason: 'unavailable' } satisfies DriveRevoked);
      void this.recordings.driveEnded(seat.vehicleId, 'unavailable');
    }
    const now = nextFence(0);
    for (const [vehicleId, h] of this.homes) {
      if (h.lock) this.presence.local(vehicleId)?.socket.emit(EV.stop, { reason: 'unavailable' });
      h.lock = null;
      h.staleFence = Math.max(h.staleFence, now);
    }
  }

  /** Redis answers again: locks that acquisitions past the deadline may have left are freed. */
  private freeOrphans(): void {
    for (const [vehicleId, socketId] of [...this.orphans]) {
      this.orphans.delete(vehicleId);
      if (this.seats.get(vehicleId)?.socketId === socketId) continue;
      void this.store.releaseDriver(vehicleId, socketId).then(
        (freed) => freed && this.state.publish(vehicleId),
        () => undefined,
      );
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
