import { Inject, Injectable, Logger } from '@nestjs/common';
import { ClusterService } from '../cluster/cluster.service.js';
import { RELAY_EVENTS as EV, type VehicleState } from '../protocol/index.js';
import { RelaySockets, USERS_ROOM, WATCH_ROOM } from '../sockets/relay-sockets.js';
import { EstopService } from './estop.service.js';
import { RELAY_STATE, type RelayStateStore } from './relay-state.js';

/**
 * A vehicle's live state as everyone sees it (online, driver, e-stop, viewers, fps), read from the shared store, and
 * its publication: a change goes to every signed-in socket of every instance.
 */
@Injectable()
export class VehicleStateService {
  private readonly logger = new Logger('relay');
  /** The fps of a vehicle whose socket is here (the video service measures it). */
  localFps: (vehicleId: string) => number | undefined = () => undefined;

  constructor(
    @Inject(RELAY_STATE) private readonly store: RelayStateStore,
    private readonly cluster: ClusterService,
    private readonly sockets: RelaySockets,
    private readonly estops: EstopService,
  ) {}

  /** Without the shared store (Redis down or past its deadline) a vehicle shows as offline, with its latch as stored. */
  async stateOf(vehicleId: string): Promise<VehicleState> {
    const estopped = this.estops.isLatched(vehicleId);
    const unknown = { vehicleId, online: false, driver: null, estopped, viewers: 0, fps: 0 };
    if (!this.cluster.available) return unknown;
    let snap;
    try {
      snap = await this.store.snapshot(vehicleId, await this.cluster.liveInstances());
    } catch {
      return unknown;
    }
    const fps = this.localFps(vehicleId) ?? snap.home?.fps ?? 0;
    return {
      vehicleId,
      online: snap.home !== null,
      driver: snap.driver ? { userId: snap.driver.userId, name: snap.driver.name } : null,
      estopped,
      viewers: snap.viewers,
      fps: snap.home ? fps : 0,
    };
  }

  /**
   * Sends the state to every signed-in socket (`everyone`) or to the vehicle's watchers (fps updates), on every
   * instance; `localOnly` when each instance found the change by itself (an instance that died).
   */
  async publish(vehicleId: string, opts: { everyone?: boolean; localOnly?: boolean; offline?: boolean } = { everyone: true }): Promise<void> {
    try {
      const state = await this.stateOf(vehicleId);
      // "It went offline" is said as such, even if it is already back (a fast reconnect publishes online after).
      if (opts.offline) Object.assign(state, { online: false, fps: 0 });
      const room = opts.everyone === false ? WATCH_ROOM(vehicleId) : USERS_ROOM;
      (opts.localOnly ? this.sockets.local(room) : this.sockets.to(room)).emit(EV.vehicleState, state);
    } catch (err) {
      this.logger.debug(`cannot publish the state of ${vehicleId}: ${(err as Error).message}`);
    }
  }

  /** A vehicle that is gone (deleted), to every signed-in socket. */
  publishGone(vehicleId: string): void {
    this.sockets.to(USERS_ROOM).emit(EV.vehicleState, { vehicleId, online: false, driver: null, estopped: false, viewers: 0, fps: 0 } satisfies VehicleState);
  }
}
