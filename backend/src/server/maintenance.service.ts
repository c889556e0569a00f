import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { AuthService } from '../auth/auth.service.js';
import { ClusterService } from '../cluster/cluster.service.js';
import { Setting } from '../connections/connection.entity.js';
import { can, type MaintenanceState } from '../protocol/index.js';
import { RelayGateway } from '../relay/relay.gateway.js';

const KEY = 'maintenance';
/** Instances reread the switch this often too, in case a change message was lost (Redis down at that moment). */
const RELOAD_MS = 5000;
export const DEFAULT_MAINTENANCE_MESSAGE = 'The server is closed for maintenance. Please try again later.';

/**
 * The server's open/closed switch. While closed, new sign-ins, sign-ups, refreshes and new sockets of non-admins and
 * vehicles are refused with the message; sessions already running continue until kicked. Kept in the database across
 * restarts; a change reaches every instance at once through the bus (and within 5 s by rereading, whatever happens).
 */
@Injectable()
export class MaintenanceService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('maintenance');
  private state: MaintenanceState = { enabled: false, message: DEFAULT_MAINTENANCE_MESSAGE, updatedAt: null };
  private timer?: NodeJS.Timeout;

  constructor(
    @InjectRepository(Setting) private readonly settings: Repository<Setting>,
    private readonly auth: AuthService,
    private readonly relay: RelayGateway,
    private readonly cluster: ClusterService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reload();
    this.cluster.handle('maintenance', () => void this.reload().catch((err) => this.logger.warn({ err }, 'cannot reread the maintenance switch')));
    if (this.cluster.clustered) {
      this.timer = setInterval(() => void this.reload().catch(() => undefined), RELOAD_MS);
      this.timer.unref();
    }
    // Sign-ins, sign-ups and refreshes of anyone who may not work during maintenance (sign-ups are never admins).
    this.auth.setSessionGate((role) => (this.state.enabled && !can(role, 'server:maintenance') ? this.state.message : null));
    this.relay.setAdmission(async (p) => (this.state.enabled && (p.kind === 'vehicle' || !can(p.role, 'server:maintenance')) ? this.state.message : null));
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  private async reload(): Promise<void> {
    const row = await this.settings.findOneBy({ key: KEY });
    if (row) this.state = { ...this.state, ...(JSON.parse(row.value) as MaintenanceState) };
  }

  get(): MaintenanceState {
    return { ...this.state };
  }

  async set(enabled: boolean, message?: string): Promise<MaintenanceState> {
    this.state = { enabled, message: message || this.state.message || DEFAULT_MAINTENANCE_MESSAGE, updatedAt: new Date().toISOString() };
    await this.settings.save({ key: KEY, value: JSON.stringify(this.state) });
    this.cluster.broadcast({ t: 'maintenance' });
    return this.get();
  }
}
