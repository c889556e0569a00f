import { Module } from '@nestjs/common';
import { DashboardService } from './dashboard.service.js';

/** The admins' live operations dashboard; the relay gateway dispatches its socket events here. */
@Module({
  providers: [DashboardService],
  exports: [DashboardService],
})
export class DashboardModule {}
