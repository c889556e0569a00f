/**
 * The one role → permission map. The backend's guard and services check it; the web app imports it to hide
 * what the server would refuse (the server still enforces every rule).
 */
export const ROLES = ['admin', 'user'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = {
  /** List, create, edit and delete every account, change roles, disable. */
  'users:manage': ['admin'],
  /** Register vehicles, rotate their tokens, delete them, read relay statistics. */
  'vehicles:manage': ['admin'],
  /** Take the controls of a vehicle someone else is driving. */
  'drive:takeover': ['admin'],
  /** Clear an e-stop latched by anyone, without being the driver. */
  'estop:clear-any': ['admin'],
  /** Read the connection and auth-event logs, export them, kick sessions. */
  'connections:manage': ['admin'],
  /** List, download and delete drive recordings; turn recording on per vehicle. */
  'recordings:manage': ['admin'],
  /** Watch the live operations dashboard. */
  'dashboard:view': ['admin'],
  /** Close or open the server to new sessions; connect while it is closed. */
  'server:maintenance': ['admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function can(role: Role | null | undefined, permission: Permission): boolean {
  return role != null && (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

/**
 * What a personal API token may do, chosen when it is made (default: `read`). Its owner's role still applies: a scope
 * never grants what the owner's role does not.
 * - `read`: every GET its owner may make.
 * - `account`: its owner's own profile (the display name).
 * - a permission: the writes that need that permission.
 * Whatever its scopes, a token never creates, promotes, disables or deletes an admin, never changes a password, an
 * email or a role, never signs anyone out everywhere, and never makes or revokes API tokens of its own account.
 */
export const TOKEN_SCOPES = ['read', 'account', 'users:manage', 'vehicles:manage', 'connections:manage', 'recordings:manage', 'server:maintenance'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];
export const TOKEN_SCOPES_DEFAULT: readonly TokenScope[] = ['read'];

/** A token's stored scopes (comma-separated); a name this server does not know is dropped rather than trusted. */
export function parseTokenScopes(stored: string): TokenScope[] {
  return stored.split(',').filter((s): s is TokenScope => (TOKEN_SCOPES as readonly string[]).includes(s));
}

/** The scopes a token may be given by someone of this role: `read` and `account` for all, each permission they hold. */
export function grantableScopes(role: Role): TokenScope[] {
  return TOKEN_SCOPES.filter((s) => s === 'read' || s === 'account' || can(role, s as Permission));
}
