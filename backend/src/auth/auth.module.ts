import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiToken } from '../api-tokens/api-token.entity.js';
import { CONFIG } from '../config/config.module.js';
import type { AppConfig } from '../config/config.js';
import { User } from '../users/user.entity.js';
import { UsersModule } from '../users/users.module.js';
import { Vehicle } from '../vehicles/vehicle.entity.js';
import { AuthController } from './auth.controller.js';
import { AuthEvents } from './auth-events.js';
import { AuthGuard } from './auth.guard.js';
import { AuthService } from './auth.service.js';
import { ClusterService } from '../cluster/cluster.service.js';
import { LOGIN_THROTTLE, LoginThrottle, RedisLoginThrottle } from './login-throttle.js';
import { RefreshToken, Session } from './session.entity.js';

@Global()
@Module({
  imports: [
    TypeOrmModule.forFeature([User, Session, RefreshToken, Vehicle, ApiToken]),
    JwtModule.registerAsync({ inject: [CONFIG], useFactory: (c: AppConfig) => ({ secret: c.jwtSecret }) }),
    UsersModule,
  ],
  controllers: [AuthController],
  providers: [
    AuthService,
    AuthEvents,
    { provide: APP_GUARD, useClass: AuthGuard },
    {
      provide: LOGIN_THROTTLE,
      inject: [ClusterService],
      useFactory: (cluster: ClusterService) => (cluster.redis ? new RedisLoginThrottle(cluster.redis, (...p) => cluster.key(...p)) : new LoginThrottle()),
    },
  ],
  exports: [AuthService, AuthEvents],
})
export class AuthModule {}
