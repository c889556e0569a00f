import { Global, Module } from '@nestjs/common';
import { ClusterService } from './cluster.service.js';

/** This instance among the others: Redis, the bus between instances, the instance registry. */
@Global()
@Module({ providers: [ClusterService], exports: [ClusterService] })
export class ClusterModule {}
