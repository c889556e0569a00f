import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Socket } from 'socket.io';
import type { VehiclePrincipal } from '../auth/decorators.js';
import type { VideoCaps } from '../protocol/index.js';
import { ClusterService, HEARTBEAT_MS, INSTANCE_TTL_MS } from '../cluster/cluster.service.js';
import { ConnectionsService } from '../connections/connections.service.js';
import { VEHICLE_ROOM, type SocketData } from '../sockets/relay-sockets.js';
import { VehiclesService } from '../vehicles/vehicles.service.js';
import { RELAY_STATE, type RelayStateStore } from './relay-state.js';
import { VehicleStateService } from './vehicle-state.service.js';

/** A vehicle whose socket is connected to this instance. */
export interface LocalVehicle {
  id: string;
  name: string;
  socket: Socket;
  caps: VideoCaps;
}

/** A vehicle that never said what it can send (an older agent, the Python vehicle) sends JPEG. */
export const DEFAULT_CAPS: VideoCaps = { codecs: ['jpeg'] };

type Listener = (vehicleId: string, online: boolean, local: boolean) => void;

/**
 * Which instance holds each vehicle's socket. The instance that holds it says so every second (a key that expires
 * in 3 s), so the vehicles of an instance that dies go offline by themselves; every instance notices and tells its
 * own users. One process: the same, in memory.
 */
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('relay');
  private readonly here = new Map<string, LocalVehicle>();
  /** Vehicles seen online on other instances, and where: checked every second. */
  private readonly elsewhere = new Map<string, string>();
  private readonly listeners: Listener[] = [];
  private timer?: NodeJS.Timeout;
  fps: (vehicleId: string) => number = () => 0;

  constructor(
    @Inject(RELAY_STATE) private readonly store: RelayStateStore,
    private readonly cluster: ClusterService,
    private readonly state: VehicleStateService,
    private readonly vehicles: VehiclesService,
    private readonly connections: ConnectionsService,
  ) {}

  onModuleInit(): void {
    this.cluster.handle('vehicle-online', (m) => {
      const { vehicleId, instanceId } = m as unknown as { vehicleId: string; instanceId: string };
      if (instanceId === this.cluster.instanceId) return;
      this.elsewhere.set(vehicleId, instanceId);
      // The vehicle connected again elsewhere: the socket still here is an old one.
      const old = this.here.get(vehicleId);
      if (old) {
        this.connections.markClosing(old.socket, 'replaced');
        old.socket.disconnect(true);
      }
      this.notify(vehicleId, true, false);
    });
    this.cluster.handle('vehicle-offline', (m) => {
      const { vehicleId, instanceId } = m as unknown as { vehicleId: string; instanceId: string };
      if (this.elsewhere.get(vehicleId) === instanceId) this.elsewhere.delete(vehicleId);
      if (instanceId !== this.cluster.instanceId) this.notify(vehicleId, false, false);
    });
    this.cluster.on('availability', (up) => {
      // Back from an outage: say again where our vehicles are, and tell the other instances.
      if (!up) return;
      for (const v of this.here.values()) {
        void this.claim(v.id).then(() => this.cluster.broadcast({ t: 'vehicle-online', vehicleId: v.id, instanceId: this.cluster.instanceId }));
      }
    });
    if (this.cluster.clustered) {
      this.timer = setInterval(() => void this.heartbeat(), HEARTBEAT_MS);
      this.timer.unref();
    }
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Called on online/offline changes (local: the socket is here). */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  local(vehicleId: string): LocalVehicle | undefined {
    return this.here.get(vehicleId);
  }

  localVehicles(): LocalVehicle[] {
    return [...this.here.values()];
  }

  /** The vehicle told what it can send (on connect); the other instances learn it from its home record. */
  async setCaps(vehicleId: string, socket: Socket, caps: VideoCaps): Promise<void> {
    const v = this.here.get(vehicleId);
    if (v?.socket.id !== socket.id) return;
    v.caps = caps;
    await this.claim(vehicleId);
  }

  /** What a vehicle can send, or null when it is offline. */
  async caps(vehicleId: string): Promise<VideoCaps | null> {
    const v = this.here.get(vehicleId);
    if (v) return v.caps;
    if (!this.cluster.clustered || !this.cluster.available) return null;
    const home = await this.store.homeOf(vehicleId).catch(() => null);
    return home ? (home.caps ?? DEFAULT_CAPS) : null;
  }

  /** Where the vehicle is as far as this instance knows without asking (undefined: not known here). */
  knownHome(vehicleId: string): string | undefined {
    return this.here.has(vehicleId) ? this.cluster.instanceId : this.elsewhere.get(vehicleId);
  }

  /** The instance holding the vehicle's socket, or null when it is offline. */
  async homeOf(vehicleId: string): Promise<string | null> {
    if (this.here.has(vehicleId)) return this.cluster.instanceId;
    const known = this.elsewhere.get(vehicleId);
    if (known) return known;
    if (!this.cluster.clustered || !this.cluster.available) return null;
    const home = await this.store.homeOf(vehicleId).catch(() => null);
    if (home) this.elsewhere.set(vehicleId, home.instanceId);
    return home?.instanceId ?? null;
  }

  /** A vehicle's socket connected here: the newest connection of a vehicle wins, wherever the older one is. */
  async connected(socket: Socket, principal: VehiclePrincipal): Promise<void> {
    const old = this.here.get(principal.vehicleId);
    if (old && old.socket.id !== socket.id) {
      this.connections.markClosing(old.socket, 'replaced');
      old.socket.disconnect(true);
    }
    this.here.set(principal.vehicleId, { id: principal.vehicleId, name: principal.name, socket, caps: (socket.data as SocketData).caps ?? DEFAULT_CAPS });
    this.elsewhere.delete(principal.vehicleId);
    socket.join(VEHICLE_ROOM(principal.vehicleId));
    await this.claim(principal.vehicleId);
    this.cluster.broadcast({ t: 'vehicle-online', vehicleId: principal.vehicleId, instanceId: this.cluster.instanceId });
    this.notify(principal.vehicleId, true, true);
    this.vehicles.touch(principal.vehicleId).catch(() => undefined);
    void this.state.publish(principal.vehicleId);
  }

  disconnected(socket: Socket, principal: VehiclePrincipal): void {
    const v = this.here.get(principal.vehicleId);
    if (v?.socket.id !== socket.id) return;
    this.here.delete(principal.vehicleId);
    this.vehicles.touch(principal.vehicleId).catch(() => undefined);
    void this.store
      .clearHome(principal.vehicleId, this.cluster.instanceId)
      .catch(() => undefined)
      .then(() => {
        this.cluster.broadcast({ t: 'vehicle-offline', vehicleId: principal.vehicleId, instanceId: this.cluster.instanceId });
        this.notify(principal.vehicleId, false, true);
        return this.state.publish(principal.vehicleId, { everyone: true, offline: true });
      });
  }

  /** A deleted vehicle: forgotten here; its socket (wherever it is) is closed by its instance. */
  forget(vehicleId: string): void {
    this.here.delete(vehicleId);
    this.elsewhere.delete(vehicleId);
  }

  private async claim(vehicleId: string): Promise<void> {
    const v = this.here.get(vehicleId);
    await this.store.setHome(vehicleId, { instanceId: this.cluster.instanceId, fps: this.fps(vehicleId), caps: v?.caps }, INSTANCE_TTL_MS).catch(() => undefined);
  }

  /** Refreshes our vehicles' homes (with their fps) and notices vehicles whose instance went silent. */
  private async heartbeat(): Promise<void> {
    if (!this.cluster.clustered || !this.cluster.available) return;
    await Promise.all([...this.here.keys()].map((id) => this.claim(id)));
    for (const [vehicleId, instanceId] of [...this.elsewhere]) {
      const home = await this.store.homeOf(vehicleId).catch(() => undefined);
      if (home === undefined) return; // Redis went away mid-sweep
      if (home?.instanceId === instanceId) continue;
      if (home) this.elsewhere.set(vehicleId, home.instanceId);
      else {
        this.elsewhere.delete(vehicleId);
        this.logger.warn(`vehicle ${vehicleId} went offline with instance ${instanceId}`);
        this.notify(vehicleId, false, false);
        // Every instance finds this by itself: each tells only its own users.
        void this.state.publish(vehicleId, { everyone: true, localOnly: true, offline: true });
      }
    }
  }

  private notify(vehicleId: string, online: boolean, local: boolean): void {
    for (const l of this.listeners) {
      try {
        l(vehicleId, online, local);
      } catch (err) {
        this.logger.error({ err }, 'presence listener failed');
      }
    }
  }
}
