import type { DriveRevoked, Role, TokenScope } from '@vicer/protocol';

/**
 * Text for the server's stable codes: an HTTP error's `code`, a field error's `code` (with its `limit`), a socket
 * error's `code`. The server's English `message` is the fallback for a code this table does not know.
 */
export function errorText(code: string | undefined, fallback: string): string {
  switch (code) {
    case 'bad-credentials':
      return $localize`Invalid email or password`;
    case 'account-disabled':
      return $localize`This account is disabled`;
    case 'email-taken':
      return $localize`This email is already registered`;
    case 'last-admin':
      return $localize`The last admin cannot be demoted, disabled or deleted`;
    case 'vehicle-name-taken':
      return $localize`A vehicle with this name exists`;
    case 'token-limit':
      return $localize`You have the most API tokens an account may hold: revoke one first`;
    case 'token-cannot':
      return $localize`An API token cannot do this; sign in to do it`;
    case 'not-found':
      return $localize`Not found`;
    case 'forbidden':
      return $localize`You are not allowed to do this`;
    case 'unauthorized':
      return $localize`Your session has ended; sign in again`;
    case 'internal':
      return $localize`Something went wrong on the server`;
    case 'database-busy':
      return $localize`The server is busy; nothing was saved. Try again in a moment`;
    case 'cross-site':
      return $localize`Requests from another site are refused`;
    // Socket errors.
    case 'driver-busy':
      return $localize`Someone else is driving`;
    case 'vehicle-offline':
      return $localize`The vehicle is offline`;
    case 'estopped':
      return $localize`E-STOP is latched`;
    case 'too-many-watchers':
      return $localize`This vehicle has too many watchers`;
    case 'codec-unavailable':
      return $localize`This browser cannot show this vehicle’s video`;
    case 'unavailable':
      return $localize`The service is degraded: no new driver for now`;
    case 'user-offline':
      return $localize`That user is offline`;
    case 'busy':
      return $localize`That user is in another call`;
    default:
      return fallback;
  }
}

/** A field's problem, as a short sentence under the field. */
export function fieldText(code: string | undefined, limit: number | undefined, fallback: string): string {
  switch (code) {
    case 'required':
      return $localize`Required`;
    case 'too-short':
      return limit === 1 ? $localize`Must not be empty` : $localize`Too short: at least ${limit}:limit: characters`;
    case 'too-long':
      return $localize`Too long: at most ${limit}:limit: characters`;
    case 'too-small':
      return $localize`Must be at least ${limit}:limit:`;
    case 'too-big':
      return $localize`Must be at most ${limit}:limit:`;
    case 'not-integer':
      return $localize`Must be a whole number`;
    case 'invalid-email':
      return $localize`Must be a valid email address`;
    case 'invalid-type':
      return $localize`Has the wrong type`;
    case 'unknown-field':
      return $localize`Unknown field`;
    case 'mismatch':
      return $localize`Does not match`;
    default:
      return fallback.charAt(0).toUpperCase() + fallback.slice(1);
  }
}

export function roleName(role: Role | undefined): string {
  if (role === 'admin') return $localize`admin`;
  if (role === 'user') return $localize`user`;
  return '';
}

export function themeName(mode: 'system' | 'light' | 'dark'): string {
  return mode === 'light' ? $localize`light` : mode === 'dark' ? $localize`dark` : $localize`system`;
}

export function connectionKindName(kind: string): string {
  if (kind === 'operator') return $localize`operator`;
  if (kind === 'vehicle') return $localize`vehicle`;
  return kind;
}

/** Why a session ended, as the connection log records it. */
export function disconnectReasonName(reason: string | null): string {
  switch (reason) {
    case null:
      return '';
    case 'client-disconnect':
      return $localize`left`;
    case 'server-disconnect':
      return $localize`closed by the server`;
    case 'transport-close':
      return $localize`connection lost`;
    case 'transport-error':
      return $localize`network error`;
    case 'ping-timeout':
      return $localize`stopped answering`;
    case 'parse-error':
      return $localize`sent garbage`;
    case 'server-shutdown':
      return $localize`server stopped`;
    case 'server-restart':
      return $localize`server restarted`;
    case 'instance-lost':
      return $localize`its server instance died`;
    case 'kicked':
      return $localize`kicked`;
    case 'replaced':
      return $localize`replaced by a new connection`;
    case 'token-rotated':
      return $localize`vehicle token rotated`;
    case 'vehicle-deleted':
      return $localize`vehicle deleted`;
    case 'token-expired':
      return $localize`sign-in expired`;
    default:
      return reason;
  }
}

/** Why the driver lost the controls, as the drive page says it. */
export function driveRevokedMessage(r: DriveRevoked): string {
  switch (r.reason) {
    case 'takeover':
      return $localize`${r.by?.name ?? $localize`An admin`}:name: took over the controls`;
    case 'vehicle-lost':
      return $localize`Control released: the vehicle lost its connection. Take control again once it is back.`;
    case 'unavailable':
      return $localize`Control released: the server lost its shared state. Take control again in a moment.`;
    default:
      return $localize`Control released: no input reached the server for 1 s`;
  }
}

/** How a recorded drive ended. */
export function recordingEndName(reason: string | null): string {
  switch (reason) {
    case null:
      return '';
    case 'released':
      return $localize`released`;
    case 'lease-expired':
      return $localize`no input for 1 s`;
    case 'takeover':
      return $localize`taken over`;
    case 'driver-disconnected':
      return $localize`driver disconnected`;
    case 'vehicle-offline':
      return $localize`vehicle went offline`;
    case 'unavailable':
      return $localize`shared state lost`;
    case 'server-stopped':
      return $localize`server stopped`;
    case 'server-crash':
      return $localize`server crashed`;
    default:
      return reason;
  }
}

/** An API token's scope, as the tokens page names it. */
export function tokenScopeName(scope: TokenScope): string {
  switch (scope) {
    case 'read':
      return $localize`Read`;
    case 'account':
      return $localize`Own profile`;
    case 'users:manage':
      return $localize`Manage users`;
    case 'vehicles:manage':
      return $localize`Manage vehicles`;
    case 'connections:manage':
      return $localize`Manage connections`;
    case 'recordings:manage':
      return $localize`Manage recordings`;
    case 'server:maintenance':
      return $localize`Maintenance`;
  }
}

/** A safety event of a recorded drive, as the player's markers name it. */
export function recordingEventName(kind: string): string {
  switch (kind) {
    case 'acquire':
      return $localize`took control`;
    case 'release':
      return recordingEndName('released');
    case 'estop':
      return $localize`E-STOP`;
    case 'estop-clear':
      return $localize`E-STOP cleared`;
    case 'end':
      return $localize`end`;
    default:
      // The drive's other events are named as the ends they share a name with (lease-expired, takeover, …).
      return recordingEndName(kind);
  }
}
