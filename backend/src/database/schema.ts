import { Recording, RecordingVehicle } from '../recordings/recording.entity.js';
import { Recordings1764300000000 } from '../recordings/migrations/1764300000000-recordings.js';
import { ApiToken } from '../api-tokens/api-token.entity.js';
import { ApiTokens1764200000000 } from '../api-tokens/migrations/1764200000000-api-tokens.js';
import { ApiTokenScopes1764400000000 } from '../api-tokens/migrations/1764400000000-api-token-scopes.js';
import { RefreshToken, Session } from '../auth/session.entity.js';
import { CallRecord } from '../calls/call.entity.js';
import { Calls1764000000000 } from '../calls/migrations/1764000000000-calls.js';
import { AuthEvent, Connection, Setting } from '../connections/connection.entity.js';
import { Connections1763900000000 } from '../connections/migrations/1763900000000-connections.js';
import { ConnectionInstances1764100000000 } from '../connections/migrations/1764100000000-instances.js';
import { Accounts1763700000000 } from '../users/migrations/1763700000000-accounts.js';
import { User } from '../users/user.entity.js';
import { Vehicles1763800000000 } from '../vehicles/migrations/1763800000000-vehicles.js';
import { Vehicle } from '../vehicles/vehicle.entity.js';
import { EstopLatch } from '../relay/estop-latch.entity.js';
import { EstopLatches1764500000000 } from '../relay/migrations/1764500000000-estop-latches.js';

/** Every entity and migration, in order; each feature keeps its own next to it. */
export const ENTITIES = [User, Session, RefreshToken, Vehicle, Connection, AuthEvent, Setting, CallRecord, ApiToken, Recording, RecordingVehicle, EstopLatch];
export const MIGRATIONS = [Accounts1763700000000, Vehicles1763800000000, Connections1763900000000, Calls1764000000000, ConnectionInstances1764100000000, ApiTokens1764200000000, Recordings1764300000000, ApiTokenScopes1764400000000, EstopLatches1764500000000];
