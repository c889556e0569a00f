import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { Repository } from 'typeorm';
import { AuthService } from '../auth/auth.service.js';
import { Setting } from '../connections/connection.entity.js';
import { can, type MaintenanceState } from '../protocol/index.js';
import { RelayGateway } from '../relay/relay.gateway.js';

const KEY = 'maintenance';
export const DEFAULT_MAINTENANCE_MESSAGE = 'The server is closed for maintenance. Please try again later.';

/**
 * The server's open/closed switch. While closed, new sign-ins and new sockets of non-admins and vehicles are refused
 * with the message; sessions already running continue until kicked. Kept in the database across restarts.
 */
@Injectable()
export class MaintenanceService implements OnModuleInit {
  private state: MaintenanceState = { enabled: false, message: DEFAULT_MAINTENANCE_MESSAGE, updatedAt: null };

  constructor(@InjectRepository(Setting) private readonly settings: Repository<Setting>, private readonly auth: AuthService, private readonly relay: RelayGateway) {}

  async onModuleInit(): Promise<void> {
    const row = await this.settings.findOneBy({ key: KEY });
    if (row) this.state = { ...this.state, ...(JSON.parse(row.value) as MaintenanceState) };
    // Sign-ins, sign-ups and refreshes of anyone who may not work during maintenance (sign-ups are never admins).
    this.auth.setSessionGate((role) => (this.state.enabled && !can(role, 'server:maintenance') ? this.state.message : null));
    this.relay.setAdmission(async (p) => (this.state.enabled && (p.kind === 'vehicle' || !can(p.role, 'server:maintenance')) ? this.state.message : null));
  }

  get(): MaintenanceState {
    return { ...this.state };
  }

  async set(enabled: boolean, message?: string): Promise<MaintenanceState> {
    this.state = { enabled, message: message || this.state.message || DEFAULT_MAINTENANCE_MESSAGE, updatedAt: new Date().toISOString() };
    await this.settings.save({ key: KEY, value: JSON.stringify(this.state) });
    return this.get();
  }
}
