import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '../auth/decorators.js';
import type { VehicleCreated, VehicleStats, VehicleView } from '../protocol/index.js';
import { RelayGateway } from '../relay/relay.gateway.js';
import { CreateVehicleDto } from './dto/vehicles.dto.js';
import type { Vehicle } from './vehicle.entity.js';
import { VehiclesService } from './vehicles.service.js';

@ApiTags('vehicles')
@ApiBearerAuth()
@Controller('vehicles')
export class VehiclesController {
  constructor(private readonly vehicles: VehiclesService, private readonly relay: RelayGateway) {}

  @Get()
  @ApiOperation({ summary: 'Every vehicle with its live state (online, driver, e-stop, viewers, fps)' })
  async list(): Promise<VehicleView[]> {
    return Promise.all((await this.vehicles.list()).map((v) => this.view(v)));
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<VehicleView> {
    return this.view(await this.vehicles.get(id));
  }

  @Post()
  @RequirePermission('vehicles:manage')
  @ApiOperation({ summary: 'Register a vehicle; its token is shown once' })
  create(@Body() body: CreateVehicleDto): Promise<VehicleCreated> {
    return this.vehicles.create(body.name);
  }

  @Post(':id/token')
  @HttpCode(200)
  @RequirePermission('vehicles:manage')
  @ApiOperation({ summary: 'Rotate the token: the old one stops working and a vehicle connected with it is disconnected' })
  async rotate(@Param('id') id: string): Promise<VehicleCreated> {
    const { created, oldHash } = await this.vehicles.rotateToken(id);
    this.relay.disconnectVehicleToken(oldHash);
    return created;
  }

  @Get(':id/stats')
  @RequirePermission('vehicles:manage')
  @ApiOperation({ summary: 'Relay counters: frames in/out/skipped per vehicle and per watcher, controls' })
  async stats(@Param('id') id: string): Promise<VehicleStats> {
    await this.vehicles.get(id);
    return this.relay.statsOf(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @RequirePermission('vehicles:manage')
  async remove(@Param('id') id: string): Promise<void> {
    await this.vehicles.remove(id);
    await this.relay.vehicleDeleted(id);
  }

  private async view(v: Vehicle): Promise<VehicleView> {
    const { vehicleId: _, ...live } = await this.relay.stateOf(v.id);
    return { id: v.id, name: v.name, createdAt: v.createdAt.toISOString(), lastSeenAt: v.lastSeenAt?.toISOString() ?? null, ...live };
  }
}
