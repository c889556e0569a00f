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
