import { HttpClient, HttpErrorResponse } from '@angular/common/http';
import { computed, inject, Injectable, signal, type OnDestroy } from '@angular/core';
import { Router } from '@angular/router';
import { can, type LoginRequest, type Permission, type TokenPair, type UserView } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';
import { errorText, fieldText } from '../i18n/messages';

/**
 * The signed-in session. The access token lives only in memory; the refresh token only in its HttpOnly cookie,
 * which the browser sends to /api/auth by itself. One refresh at a time, shared by everyone who needs it.
 */
@Injectable({ providedIn: 'root' })
export class AuthService implements OnDestroy {
  private readonly http = inject(HttpClient);
  private readonly router = inject(Router);
  private readonly token = signal<string | null>(null);
  private refreshing: Promise<string | null> | null = null;
  private timer?: ReturnType<typeof setTimeout>;

  readonly user = signal<UserView | null>(null);
  readonly signedIn = computed(() => this.user() !== null);
  readonly isAdmin = computed(() => this.user()?.role === 'admin');
  /** Changes whenever a new access token is issued (the socket re-authenticates on it). */
  readonly accessToken = this.token.asReadonly();

  ngOnDestroy(): void {
    clearTimeout(this.timer);
  }

  can(permission: Permission): boolean {
    return can(this.user()?.role, permission);
  }

  async login(req: LoginRequest): Promise<UserView> {
    const pair = await firstValueFrom(this.http.post<TokenPair>('/api/auth/login', req));
    this.adopt(pair);
    return pair.user;
  }

  async signup(req: { email: string; password: string; name?: string }): Promise<UserView> {
    return firstValueFrom(this.http.post<UserView>('/api/auth/signup', req));
  }

  /** Restores the session from the refresh cookie (at start-up); quietly anonymous when there is none. */
  async restore(): Promise<void> {
    await this.refresh();
  }

  /** One refresh for all callers at once; resolves to the new access token, or null when the session is over. */
  refresh(): Promise<string | null> {
    this.refreshing ??= firstValueFrom(this.http.post<TokenPair>('/api/auth/refresh', {}))
      .then((pair) => {
        this.adopt(pair);
        return pair.accessToken;
      })
      .catch(() => {
        this.clear();
        return null;
      })
      .finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  async logout(): Promise<void> {
    try {
      if (this.token()) await firstValueFrom(this.http.post('/api/auth/logout', {}));
    } catch {
      // signed out locally either way
    }
    this.clear();
    await this.router.navigateByUrl('/login');
  }

  /** Ends every session and API token of the account, then signs out here. */
  async logoutEverywhere(): Promise<void> {
    try {
      await firstValueFrom(this.http.post('/api/auth/logout-everywhere', {}));
    } catch {
      // signed out locally either way
    }
    this.clear();
    await this.router.navigateByUrl('/login');
  }

  /** The session ended under us (refresh refused): back to sign-in, then back here. */
  async expired(returnUrl = this.router.url): Promise<void> {
    this.clear();
    await this.router.navigate(['/login'], { queryParams: returnUrl && returnUrl !== '/login' ? { returnUrl } : {} });
  }

  currentToken(): string | null {
    return this.token();
  }

  /** Our own user record changed (profile edit). */
  updateUser(user: UserView): void {
    this.user.set(user);
  }

  private adopt(pair: TokenPair): void {
    this.token.set(pair.accessToken);
    this.user.set(pair.user);
    clearTimeout(this.timer);
    // Renew a minute before expiry so sockets and requests never run on a dead token.
    this.timer = setTimeout(() => void this.refresh(), Math.max(10, pair.expiresIn - 60) * 1000);
  }

  private clear(): void {
    clearTimeout(this.timer);
    this.token.set(null);
    this.user.set(null);
  }
}

/** The API's error message (its one error shape), or a generic line. */
export function apiMessage(err: unknown, fallback = $localize`Something went wrong`): string {
  if (err instanceof HttpErrorResponse) {
    const body = err.error as { message?: string; code?: string } | null;
    if (body && typeof body === 'object' && typeof body.message === 'string') return errorText(body.code, body.message);
    if (err.status === 0) return $localize`The server cannot be reached`;
  }
  return fallback;
}

/** Field → message from a 400's details. */
export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (err instanceof HttpErrorResponse && Array.isArray(err.error?.details)) {
    for (const d of err.error.details as { field: string; message: string; code?: string; limit?: number }[]) out[d.field] ??= fieldText(d.code, d.limit, d.message);
  }
  return out;
}
