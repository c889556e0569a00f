import { RefreshToken, Session } from '../auth/session.entity.js';
import { AuthEvent, CallRecord, Connection, Setting } from '../connections/connection.entity.js';
import { User } from '../users/user.entity.js';
import { Vehicle } from '../vehicles/vehicle.entity.js';
import { Accounts1763700000000 } from './migrations/1763700000000-accounts.js';
import { Vehicles1763800000000 } from './migrations/1763800000000-vehicles.js';
import { Connections1763900000000 } from './migrations/1763900000000-connections.js';
import { Calls1764000000000 } from './migrations/1764000000000-calls.js';

/** Every entity and migration, in order; features add theirs here. */
export const ENTITIES = [User, Session, RefreshToken, Vehicle, Connection, AuthEvent, Setting, CallRecord];
export const MIGRATIONS = [Accounts1763700000000, Vehicles1763800000000, Connections1763900000000, Calls1764000000000];
