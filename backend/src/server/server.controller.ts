import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { RequirePermission } from '../auth/decorators.js';
import { Contract } from '../http/contract.js';
import { MaintenanceSchema, MaintenanceStateSchema, type MaintenanceState } from '../protocol/index.js';
import { MaintenanceService } from './maintenance.service.js';

@ApiTags('server')
@RequirePermission('server:maintenance')
@Controller('server')
export class ServerController {
  constructor(private readonly maintenance: MaintenanceService) {}

  @Get('maintenance')
  @Contract({ summary: 'Whether the server is closed to new sessions, and the message shown', response: MaintenanceStateSchema })
  get(): MaintenanceState {
    return this.maintenance.get();
  }

  @Put('maintenance')
  @Contract({ summary: 'Close (enabled: true) or open the server to new sessions of non-admins and vehicles', body: MaintenanceSchema, response: MaintenanceStateSchema })
  set(@Body() body: z.output<typeof MaintenanceSchema>): Promise<MaintenanceState> {
    return this.maintenance.set(body.enabled, body.message);
  }
}
