import { zodDto } from '../../http/zod-dto.js';
import { AuthEventsQuerySchema, ConnectionsQuerySchema, MaintenanceSchema } from '../../protocol/index.js';

export class ConnectionsQueryDto extends zodDto(ConnectionsQuerySchema, 'ConnectionsQueryDto') {}
export class AuthEventsQueryDto extends zodDto(AuthEventsQuerySchema, 'AuthEventsQueryDto') {}
export class MaintenanceDto extends zodDto(MaintenanceSchema, 'MaintenanceDto') {}
