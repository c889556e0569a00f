import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequirePermission } from '../auth/decorators.js';
import { MaintenanceDto } from '../connections/dto/connections.dto.js';
import type { MaintenanceState } from '../protocol/index.js';
import { MaintenanceService } from './maintenance.service.js';

@ApiTags('server')
@ApiBearerAuth()
@RequirePermission('server:maintenance')
@Controller('server')
export class ServerController {
  constructor(private readonly maintenance: MaintenanceService) {}

  @Get('maintenance')
  get(): MaintenanceState {
    return this.maintenance.get();
  }

  @Put('maintenance')
  @ApiOperation({ summary: 'Close (enabled: true) or open the server to new sessions of non-admins and vehicles' })
  set(@Body() body: MaintenanceDto): Promise<MaintenanceState> {
    return this.maintenance.set(body.enabled, body.message);
  }
}
