import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallRecord } from '../connections/connection.entity.js';
import { CallsService } from './calls.service.js';
import { RtcController } from './rtc.controller.js';

@Global()
@Module({
  imports: [TypeOrmModule.forFeature([CallRecord])],
  controllers: [RtcController],
  providers: [CallsService],
  exports: [CallsService],
})
export class CallsModule {}
