import type { DriverView, VideoCaps } from '../protocol/index.js';

/** Who holds a vehicle's controls: a user, through one socket on one instance (a reconnect is a new socket). */
export interface DriverLock extends DriverView {
  socketId: string;
  instanceId: string;
  /** The fencing token of this acquisition: larger than every earlier one of the vehicle (see `nextFence`). */
  fence: number;
}

/**
 * The next fencing token: above the last one given, and never below the clock in microseconds, so tokens keep growing
 * when the store itself starts empty (a Redis restarted without persistence, a server restarted) while the vehicle
 * still remembers the last token it saw. A vehicle's instance also reads its own clock to tell locks acquired before
 * the vehicle connected from later ones: instance clocks must be NTP-synced (a skew only costs a driver who took the
 * seat within it a `vehicle-lost` and a second acquire, never a stale lock driving).
 */
export function nextFence(last: number, nowMs = Date.now()): number {
  return Math.max(last + 1, nowMs * 1000);
}

export interface AcquireResult {
  ok: boolean;
  /** The holder after the call. */
  holder: DriverLock | null;
  /** Set when `force` took the seat from someone else. */
  replaced: DriverLock | null;
}

/** Which instance holds a vehicle's socket, and its frame rate there. */
export interface VehicleHome {
  instanceId: string;
  fps: number;
  /** What the vehicle said it can send (`video:caps`); JPEG only when it said nothing. */
  caps?: VideoCaps;
}

/** Everything the vehicle list shows that the shared store keeps, read at once (the e-stop latch is in the database). */
export interface VehicleSnapshot {
  home: VehicleHome | null;
  driver: DriverLock | null;
  viewers: number;
}

/**
 * State that every instance must agree on: driver locks with their lease and fencing token, which instance holds each
 * vehicle, and how many watch it where. One process keeps it in memory; several keep it in Redis (relay-state.redis.ts).
 * Every call may fail when the shared store is unreachable; callers treat that as "not granted".
 */
export interface RelayStateStore {
  /** Takes the seat when free (or held by this socket), or from anyone with `force`; the lease lasts `leaseMs`. */
  acquireDriver(vehicleId: string, driver: Omit<DriverLock, 'fence'>, force: boolean, leaseMs: number): Promise<AcquireResult>;
  /** Extends the lease if `socketId` still holds the seat. */
  renewDriver(vehicleId: string, socketId: string, leaseMs: number): Promise<boolean>;
  /** Frees the seat if `socketId` holds it; returns the lock that was freed. */
  releaseDriver(vehicleId: string, socketId: string): Promise<DriverLock | null>;
  driverOf(vehicleId: string): Promise<DriverLock | null>;
  /** This instance holds the vehicle's socket (refreshed every second while it does). */
  setHome(vehicleId: string, home: VehicleHome, ttlMs: number): Promise<void>;
  /** The vehicle left this instance; a newer home elsewhere is kept. */
  clearHome(vehicleId: string, instanceId: string): Promise<void>;
  homeOf(vehicleId: string): Promise<VehicleHome | null>;
  /** This instance's watcher count per vehicle (replaces its previous counts). */
  setViewers(instanceId: string, counts: Map<string, number>, ttlMs: number): Promise<void>;
  snapshot(vehicleId: string, instances: string[]): Promise<VehicleSnapshot>;
  /** Drops everything about a deleted vehicle. */
  forget(vehicleId: string): Promise<void>;
}

export const RELAY_STATE = Symbol('RELAY_STATE');

/** The single-process store: the lease is kept by the driver's instance timer, nothing expires by itself. */
export class InMemoryRelayState implements RelayStateStore {
  private readonly drivers = new Map<string, DriverLock>();
  private readonly fences = new Map<string, number>();
  private readonly homes = new Map<string, VehicleHome>();
  private readonly viewerCounts = new Map<string, Map<string, number>>();

  async acquireDriver(vehicleId: string, driver: Omit<DriverLock, 'fence'>, force: boolean): Promise<AcquireResult> {
    const current = this.drivers.get(vehicleId) ?? null;
    if (current && current.socketId !== driver.socketId && !force) return { ok: false, holder: current, replaced: null };
    const fence = nextFence(this.fences.get(vehicleId) ?? 0);
    this.fences.set(vehicleId, fence);
    const lock = { ...driver, fence };
    this.drivers.set(vehicleId, lock);
    const replaced = current && current.socketId !== driver.socketId ? current : null;
    return { ok: true, holder: lock, replaced };
  }

  async renewDriver(vehicleId: string, socketId: string): Promise<boolean> {
    return this.drivers.get(vehicleId)?.socketId === socketId;
  }

  async releaseDriver(vehicleId: string, socketId: string): Promise<DriverLock | null> {
    const current = this.drivers.get(vehicleId);
    if (!current || current.socketId !== socketId) return null;
    this.drivers.delete(vehicleId);
    return current;
  }

  async driverOf(vehicleId: string): Promise<DriverLock | null> {
    return this.drivers.get(vehicleId) ?? null;
  }

  async setHome(vehicleId: string, home: VehicleHome): Promise<void> {
    this.homes.set(vehicleId, home);
  }

  async clearHome(vehicleId: string, instanceId: string): Promise<void> {
    if (this.homes.get(vehicleId)?.instanceId === instanceId) this.homes.delete(vehicleId);
  }

  async homeOf(vehicleId: string): Promise<VehicleHome | null> {
    return this.homes.get(vehicleId) ?? null;
  }

  async setViewers(instanceId: string, counts: Map<string, number>): Promise<void> {
    this.viewerCounts.set(instanceId, new Map(counts));
  }

  async snapshot(vehicleId: string, instances: string[]): Promise<VehicleSnapshot> {
    let viewers = 0;
    for (const i of instances) viewers += this.viewerCounts.get(i)?.get(vehicleId) ?? 0;
    return { home: this.homes.get(vehicleId) ?? null, driver: this.drivers.get(vehicleId) ?? null, viewers };
  }

  async forget(vehicleId: string): Promise<void> {
    this.drivers.delete(vehicleId);
    this.homes.delete(vehicleId);
  }
}
