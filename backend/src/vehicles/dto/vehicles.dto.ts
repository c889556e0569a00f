import { zodDto } from '../../http/zod-dto.js';
import { CreateVehicleSchema } from '../../protocol/index.js';

export class CreateVehicleDto extends zodDto(CreateVehicleSchema, 'CreateVehicleDto') {}
