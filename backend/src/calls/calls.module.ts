import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClusterService } from '../cluster/cluster.service.js';
import { CallRecord } from './call.entity.js';
import { CALL_STORE, InMemoryCallStore, RedisCallStore } from './call-store.js';
import { CallsService } from './calls.service.js';
import { RtcController } from './rtc.controller.js';

@Global()
@Module({
  imports: [TypeOrmModule.forFeature([CallRecord])],
  controllers: [RtcController],
  providers: [
    CallsService,
    {
      provide: CALL_STORE,
      inject: [ClusterService],
      useFactory: (cluster: ClusterService) => (cluster.redis ? new RedisCallStore(cluster.redis, (...p) => cluster.key(...p)) : new InMemoryCallStore()),
    },
  ],
  exports: [CallsService],
})
export class CallsModule {}
