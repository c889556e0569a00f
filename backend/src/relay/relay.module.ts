import { DashboardModule } from '../dashboard/dashboard.module.js';
import { RecordingsModule } from '../recordings/recordings.module.js';
import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClusterService } from '../cluster/cluster.service.js';
import { VehiclesController } from '../vehicles/vehicles.controller.js';
import { VehiclesModule } from '../vehicles/vehicles.module.js';
import { DrivingService } from './driving.service.js';
import { EstopLatch } from './estop-latch.entity.js';
import { EstopService } from './estop.service.js';
import { PresenceService } from './presence.service.js';
import { InMemoryRelayState, RELAY_STATE } from './relay-state.js';
import { RedisRelayState } from './relay-state.redis.js';
import { RelayGateway } from './relay.gateway.js';
import { VehicleStateService } from './vehicle-state.service.js';
import { TelemetryService } from './telemetry.service.js';
import { VideoService } from './video.service.js';

/**
 * The relay: the gateway (transport) and the services that own its rules — driving, video, vehicle presence and
 * state, and the durable e-stop latches — on a shared-state store chosen once at start (Redis with REDIS_URL, memory without). Also the REST face of
 * vehicles, which shows their live state.
 */
@Module({
  imports: [TypeOrmModule.forFeature([EstopLatch]), VehiclesModule, DashboardModule, RecordingsModule],
  controllers: [VehiclesController],
  providers: [
    RelayGateway,
    DrivingService,
    EstopService,
    VideoService,
    PresenceService,
    VehicleStateService,
    TelemetryService,
    {
      provide: RELAY_STATE,
      inject: [ClusterService],
      useFactory: (cluster: ClusterService) => (cluster.redis ? new RedisRelayState(cluster.redis, (...p) => cluster.key(...p)) : new InMemoryRelayState()),
    },
  ],
  exports: [RelayGateway, VehiclesModule],
})
export class RelayModule {}
