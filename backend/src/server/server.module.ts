import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Setting } from '../connections/connection.entity.js';
import { RelayModule } from '../relay/relay.module.js';
import { MaintenanceService } from './maintenance.service.js';
import { ServerController } from './server.controller.js';

@Module({
  imports: [TypeOrmModule.forFeature([Setting]), RelayModule],
  controllers: [ServerController],
  providers: [MaintenanceService],
})
export class ServerModule {}
