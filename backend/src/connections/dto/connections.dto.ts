import { zodDto } from '../../http/zod-dto.js';
import { AuthEventsQuerySchema, ConnectionsQuerySchema, MaintenanceSchema, PagingQuerySchema } from '../../protocol/index.js';

export class ConnectionsQueryDto extends zodDto(ConnectionsQuerySchema, 'ConnectionsQueryDto') {}
export class AuthEventsQueryDto extends zodDto(AuthEventsQuerySchema, 'AuthEventsQueryDto') {}
export class MaintenanceDto extends zodDto(MaintenanceSchema, 'MaintenanceDto') {}
export class PagingQueryDto extends zodDto(PagingQuerySchema, 'PagingQueryDto') {}
