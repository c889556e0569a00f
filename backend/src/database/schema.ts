import { RefreshToken, Session } from '../auth/session.entity.js';
import { User } from '../users/user.entity.js';
import { Accounts1763700000000 } from './migrations/1763700000000-accounts.js';

/** Every entity and migration, in order; features add theirs here. */
export const ENTITIES = [User, Session, RefreshToken];
export const MIGRATIONS = [Accounts1763700000000];
