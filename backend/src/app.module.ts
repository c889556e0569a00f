import { ApiTokensModule } from './api-tokens/api-tokens.module.js';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AuthModule } from './auth/auth.module.js';
import { CallsModule } from './calls/calls.module.js';
import { ClusterModule } from './cluster/cluster.module.js';
import { ConfigModule } from './config/config.module.js';
import { ConnectionsModule } from './connections/connections.module.js';
import type { AppConfig } from './config/config.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthModule } from './health/health.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ContractInterceptor } from './http/contract.interceptor.js';
import { RelayModule } from './relay/relay.module.js';
import { ServerModule } from './server/server.module.js';
import { SocketsModule } from './sockets/sockets.module.js';
import { UsersModule } from './users/users.module.js';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule, ClusterModule, SocketsModule, MetricsModule, AuthModule, UsersModule, ApiTokensModule, HealthModule, ConnectionsModule, CallsModule, RelayModule, ServerModule],
      providers: [{ provide: APP_INTERCEPTOR, useClass: ContractInterceptor }],
    };
  }
}
