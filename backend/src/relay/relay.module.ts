import { Module } from '@nestjs/common';
import { VehiclesController } from '../vehicles/vehicles.controller.js';
import { VehiclesModule } from '../vehicles/vehicles.module.js';
import { InMemoryRelayState, RELAY_STATE } from './relay-state.js';
import { RelayGateway } from './relay.gateway.js';

/** The relay gateway and the REST face of vehicles, which shows the gateway's live state. */
@Module({
  imports: [VehiclesModule],
  controllers: [VehiclesController],
  providers: [RelayGateway, { provide: RELAY_STATE, useClass: InMemoryRelayState }],
  exports: [RelayGateway, VehiclesModule],
})
export class RelayModule {}
