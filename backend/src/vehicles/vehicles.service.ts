import { ConflictException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { randomBytes, randomUUID } from 'node:crypto';
import { In, type Repository } from 'typeorm';
import { sha256 } from '../auth/auth.service.js';
import { DatabaseService } from '../database/database.service.js';
import type { VehicleCreated } from '../protocol/index.js';
import { Vehicle } from './vehicle.entity.js';

@Injectable()
export class VehiclesService {
  constructor(@InjectRepository(Vehicle) private readonly vehicles: Repository<Vehicle>, private readonly db: DatabaseService) {}

  list(): Promise<Vehicle[]> {
    return this.vehicles.find({ order: { name: 'ASC' } });
  }

  async get(id: string): Promise<Vehicle> {
    const v = /^[0-9a-f-]{36}$/i.test(id) ? await this.vehicles.findOneBy({ id }) : null;
    if (!v) throw new NotFoundException('Vehicle not found');
    return v;
  }

  findByName(name: string): Promise<Vehicle | null> {
    return this.vehicles.findOneBy({ name });
  }

  async create(name: string): Promise<VehicleCreated> {
    const token = newVehicleToken();
    const vehicle = await this.db.transaction(async (m) => {
      if (await m.existsBy(Vehicle, { name })) throw new ConflictException({ message: 'A vehicle with this name exists', code: 'vehicle-name-taken' });
      const row = m.create(Vehicle, { id: randomUUID(), name, tokenHash: sha256(token), lastSeenAt: null });
      await m.insert(Vehicle, row);
      return row;
    });
    return { id: vehicle.id, name: vehicle.name, token };
  }

  /** A new token; the old one stops working at once. Returns the old hash so its sockets can be closed. */
  async rotateToken(id: string): Promise<{ created: VehicleCreated; oldHash: string }> {
    const vehicle = await this.get(id);
    const token = newVehicleToken();
    await this.vehicles.update({ id }, { tokenHash: sha256(token) });
    return { created: { id, name: vehicle.name, token }, oldHash: vehicle.tokenHash };
  }

  async remove(id: string): Promise<void> {
    await this.get(id);
    await this.vehicles.delete({ id });
  }

  /** The current token hash of each of these vehicles that still exists. */
  async tokenHashes(ids: string[]): Promise<Map<string, string>> {
    if (!ids.length) return new Map();
    const rows = await this.vehicles.find({ select: { id: true, tokenHash: true }, where: { id: In(ids) } });
    return new Map(rows.map((r) => [r.id, r.tokenHash]));
  }

  async touch(id: string): Promise<void> {
    await this.vehicles.update({ id }, { lastSeenAt: new Date() });
  }
}

function newVehicleToken(): string {
  return 'vt_' + randomBytes(32).toString('base64url');
}
