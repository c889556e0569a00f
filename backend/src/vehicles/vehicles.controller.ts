import { Body, Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/decorators.js';
import { Contract } from '../http/contract.js';
import {
  CreateVehicleSchema,
  IdParamsSchema,
  VehicleCreatedSchema,
  VehicleListSchema,
  VehicleStatsSchema,
  VehicleViewSchema,
  type VehicleCreated,
  type VehicleStats,
  type VehicleView,
} from '../protocol/index.js';
import { RelayGateway } from '../relay/relay.gateway.js';
import type { Vehicle } from './vehicle.entity.js';
import { VehiclesService } from './vehicles.service.js';

@ApiTags('vehicles')
@Controller('vehicles')
export class VehiclesController {
  constructor(private readonly vehicles: VehiclesService, private readonly relay: RelayGateway) {}

  @Get()
  @Contract({ summary: 'Every vehicle with its live state (online, driver, e-stop, viewers, fps)', response: VehicleListSchema })
  async list(): Promise<VehicleView[]> {
    return Promise.all((await this.vehicles.list()).map((v) => this.view(v)));
  }

  @Get(':id')
  @Contract({ summary: 'One vehicle with its live state', params: IdParamsSchema, response: VehicleViewSchema, notFound: true })
  async get(@Param() { id }: { id: string }): Promise<VehicleView> {
    return this.view(await this.vehicles.get(id));
  }

  @Post()
  @RequirePermission('vehicles:manage')
  @Contract({ summary: 'Register a vehicle; its token is shown once (409 for a taken name)', body: CreateVehicleSchema, response: VehicleCreatedSchema, status: 201, errors: [409] })
  create(@Body() body: z.output<typeof CreateVehicleSchema>): Promise<VehicleCreated> {
    return this.vehicles.create(body.name);
  }

  @Post(':id/token')
  @RequirePermission('vehicles:manage')
  @Contract({ summary: 'Rotate the token: the old one stops working and a vehicle connected with it is disconnected', params: IdParamsSchema, response: VehicleCreatedSchema, status: 200, notFound: true })
  async rotate(@Param() { id }: { id: string }): Promise<VehicleCreated> {
    const { created, oldHash } = await this.vehicles.rotateToken(id);
    this.relay.disconnectVehicleToken(oldHash);
    return created;
  }

  @Get(':id/stats')
  @RequirePermission('vehicles:manage')
  @Contract({ summary: 'Relay counters: frames in/out/skipped per vehicle and per watcher, controls', params: IdParamsSchema, response: VehicleStatsSchema, notFound: true })
  async stats(@Param() { id }: { id: string }): Promise<VehicleStats> {
    await this.vehicles.get(id);
    return this.relay.statsOf(id);
  }

  @Delete(':id')
  @RequirePermission('vehicles:manage')
  @Contract({ summary: 'Delete a vehicle; a connected one is disconnected', params: IdParamsSchema, response: null, status: 204, notFound: true })
  async remove(@Param() { id }: { id: string }): Promise<void> {
    await this.vehicles.remove(id);
    await this.relay.vehicleDeleted(id);
  }

  private async view(v: Vehicle): Promise<VehicleView> {
    const { vehicleId: _, ...live } = await this.relay.stateOf(v.id);
    return { id: v.id, name: v.name, createdAt: v.createdAt.toISOString(), lastSeenAt: v.lastSeenAt?.toISOString() ?? null, ...live };
  }
}
