import { HttpClient, provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter, Router, type UrlTree } from '@angular/router';
import { firstValueFrom } from 'rxjs';
import { authGuard, permissionGuard } from './auth.guards';
import { authInterceptor } from './auth.interceptor';
import { AuthService } from './auth.service';

const pair = (token: string, role: 'admin' | 'user' = 'user') => ({
  accessToken: token,
  refreshToken: 'r',
  tokenType: 'Bearer',
  expiresIn: 900,
  user: { id: 'u1', email: 'a@b.c', name: 'A', role, disabled: false, createdAt: '', updatedAt: '', lastLoginAt: null },
});

describe('auth', () => {
  let http: HttpClient;
  let ctl: HttpTestingController;
  let auth: AuthService;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideRouter([]), provideHttpClient(withInterceptors([authInterceptor])), provideHttpClientTesting()] });
    http = TestBed.inject(HttpClient);
    ctl = TestBed.inject(HttpTestingController);
    auth = TestBed.inject(AuthService);
  });

  async function signIn(role: 'admin' | 'user' = 'user') {
    const p = auth.login({ email: 'a@b.c', password: 'password' });
    ctl.expectOne('/api/auth/login').flush(pair('t1', role));
    await p;
  }

  it('adds the bearer to API calls', async () => {
    await signIn();
    const done = firstValueFrom(http.get('/api/users'));
    const req = ctl.expectOne('/api/users');
    expect(req.request.headers.get('Authorization')).toBe('Bearer t1');
    req.flush([]);
    await done;
  });

  it('runs one refresh for concurrent 401s, then retries each request once with the new token', async () => {
    await signIn();
    const calls = [firstValueFrom(http.get('/api/a')), firstValueFrom(http.get('/api/b')), firstValueFrom(http.get('/api/c'))];
    for (const url of ['/api/a', '/api/b', '/api/c']) ctl.expectOne(url).flush({ message: 'token expired' }, { status: 401, statusText: 'Unauthorized' });
    await Promise.resolve();
    const refreshes = ctl.match('/api/auth/refresh');
    expect(refreshes.length).toBe(1);
    refreshes[0].flush(pair('t2'));
    await new Promise((r) => setTimeout(r));
    for (const url of ['/api/a', '/api/b', '/api/c']) {
      const retry = ctl.expectOne(url);
      expect(retry.request.headers.get('Authorization')).toBe('Bearer t2');
      retry.flush({ ok: url });
    }
    expect(await Promise.all(calls)).toEqual([{ ok: '/api/a' }, { ok: '/api/b' }, { ok: '/api/c' }]);
    ctl.verify();
  });

  it('signs out to /login?returnUrl when the refresh fails', async () => {
    await signIn();
    const router = TestBed.inject(Router);
    const nav = vi.spyOn(router, 'navigate').mockResolvedValue(true);
    const call = firstValueFrom(http.get('/api/x')).catch((e) => e);
    ctl.expectOne('/api/x').flush({}, { status: 401, statusText: 'Unauthorized' });
    await Promise.resolve();
    ctl.expectOne('/api/auth/refresh').flush({}, { status: 401, statusText: 'Unauthorized' });
    const err = await call;
    expect(err.status).toBe(401);
    expect(auth.signedIn()).toBe(false);
    expect(nav).toHaveBeenCalledWith(['/login'], expect.anything());
  });

  it('authGuard sends anonymous visitors to /login with the return URL', () => {
    const result = TestBed.runInInjectionContext(() => authGuard({} as never, { url: '/users' } as never)) as UrlTree;
    expect(result.toString()).toBe('/login?returnUrl=%2Fusers');
  });

  it('authGuard lets a signed-in user through', async () => {
    await signIn();
    expect(TestBed.runInInjectionContext(() => authGuard({} as never, { url: '/users' } as never))).toBe(true);
  });

  it('permissionGuard uses the shared permission map: a user gets the 403 page, an admin passes', async () => {
    await signIn('user');
    const guard = permissionGuard('connections:manage');
    expect((TestBed.runInInjectionContext(() => guard({} as never, {} as never)) as UrlTree).toString()).toBe('/forbidden');
    await signIn('admin');
    expect(TestBed.runInInjectionContext(() => guard({} as never, {} as never))).toBe(true);
  });
});
