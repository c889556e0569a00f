import type { DriverView } from '../protocol/index.js';

/** Who holds a vehicle's controls: a user, through one socket (a reconnect is a new socket). */
export interface DriverLock extends DriverView {
  socketId: string;
}

export interface AcquireResult {
  ok: boolean;
  /** The holder after the call. */
  holder: DriverLock | null;
  /** Set when `force` took the seat from someone else. */
  replaced: DriverLock | null;
}

/**
 * State that several server instances must agree on: driver locks, e-stop latches, vehicle presence.
 * Async so that a Redis-backed store (SET NX PX for locks, hashes for presence) can replace the in-memory one.
 */
export interface RelayStateStore {
  acquireDriver(vehicleId: string, driver: DriverLock, force: boolean): Promise<AcquireResult>;
  /** Frees the seat if `socketId` holds it; returns the lock that was freed. */
  releaseDriver(vehicleId: string, socketId: string): Promise<DriverLock | null>;
  driverOf(vehicleId: string): Promise<DriverLock | null>;
  setEstop(vehicleId: string, latched: boolean): Promise<void>;
  isEstopped(vehicleId: string): Promise<boolean>;
  setOnline(vehicleId: string, online: boolean): Promise<void>;
  isOnline(vehicleId: string): Promise<boolean>;
  /** Drops everything about a deleted vehicle. */
  forget(vehicleId: string): Promise<void>;
}

export const RELAY_STATE = Symbol('RELAY_STATE');

/** The single-instance store. */
export class InMemoryRelayState implements RelayStateStore {
  private readonly drivers = new Map<string, DriverLock>();
  private readonly estops = new Set<string>();
  private readonly online = new Set<string>();

  async acquireDriver(vehicleId: string, driver: DriverLock, force: boolean): Promise<AcquireResult> {
    const current = this.drivers.get(vehicleId) ?? null;
    if (current && current.socketId !== driver.socketId && !force) return { ok: false, holder: current, replaced: null };
    this.drivers.set(vehicleId, driver);
    const replaced = current && current.socketId !== driver.socketId ? current : null;
    return { ok: true, holder: driver, replaced };
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

  async setEstop(vehicleId: string, latched: boolean): Promise<void> {
    if (latched) this.estops.add(vehicleId);
    else this.estops.delete(vehicleId);
  }

  async isEstopped(vehicleId: string): Promise<boolean> {
    return this.estops.has(vehicleId);
  }

  async setOnline(vehicleId: string, online: boolean): Promise<void> {
    if (online) this.online.add(vehicleId);
    else this.online.delete(vehicleId);
  }

  async isOnline(vehicleId: string): Promise<boolean> {
    return this.online.has(vehicleId);
  }

  async forget(vehicleId: string): Promise<void> {
    this.drivers.delete(vehicleId);
    this.estops.delete(vehicleId);
    this.online.delete(vehicleId);
  }
}
