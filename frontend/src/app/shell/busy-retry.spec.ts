import { HttpClient, HttpHeaders, provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { firstValueFrom } from 'rxjs';
import { busyRetryInterceptor } from './busy-retry.interceptor';

const busy = { status: 503, statusText: 'Service Unavailable', headers: new HttpHeaders({ 'Retry-After': '0' }) };
const busyBody = { statusCode: 503, code: 'database-busy', error: 'Service Unavailable', message: 'try again' };
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('busy retry', () => {
  let http: HttpClient;
  let ctl: HttpTestingController;

  beforeEach(() => {
    TestBed.configureTestingModule({ providers: [provideHttpClient(withInterceptors([busyRetryInterceptor])), provideHttpClientTesting()] });
    http = TestBed.inject(HttpClient);
    ctl = TestBed.inject(HttpTestingController);
  });

  it('sends a request again after a 503 database-busy, and answers what the resend got', async () => {
    const done = firstValueFrom(http.put('/api/users/u1', { name: 'x' }));
    ctl.expectOne('/api/users/u1').flush(busyBody, busy);
    await tick();
    const again = ctl.expectOne('/api/users/u1');
    expect(again.request.body).toEqual({ name: 'x' });
    again.flush({ ok: true });
    await expect(done).resolves.toEqual({ ok: true });
    ctl.verify();
  });

  it('gives up after two resends with the last error', async () => {
    const done = firstValueFrom(http.get('/api/users'));
    for (let i = 0; i < 3; i++) {
      await tick();
      ctl.expectOne('/api/users').flush(busyBody, busy);
    }
    await expect(done).rejects.toMatchObject({ status: 503, error: { code: 'database-busy' } });
    ctl.verify();
  });

  it('passes any other error through at once, a maintenance 503 included', async () => {
    const done = firstValueFrom(http.post('/api/auth/login', {}));
    ctl.expectOne('/api/auth/login').flush({ ...busyBody, code: 'maintenance' }, busy);
    await expect(done).rejects.toMatchObject({ status: 503, error: { code: 'maintenance' } });
    await tick();
    ctl.verify();
  });
});
