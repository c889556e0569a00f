import { HttpErrorResponse, type HttpHandlerFn, type HttpInterceptorFn, type HttpRequest } from '@angular/common/http';
import { inject } from '@angular/core';
import { catchError, from, switchMap, throwError } from 'rxjs';
import { AuthService } from './auth.service';

const AUTH_CALLS = ['/api/auth/login', '/api/auth/signup', '/api/auth/refresh'];

function withBearer(req: HttpRequest<unknown>, token: string | null): HttpRequest<unknown> {
  return token ? req.clone({ setHeaders: { Authorization: `Bearer ${token}` } }) : req;
}

/**
 * Adds the bearer to API calls. On a 401 it runs the one shared refresh (however many requests failed at once),
 * then retries once; when the refresh fails the user goes to /login?returnUrl=….
 */
export const authInterceptor: HttpInterceptorFn = (req: HttpRequest<unknown>, next: HttpHandlerFn) => {
  const auth = inject(AuthService);
  if (!req.url.startsWith('/api/') || AUTH_CALLS.some((p) => req.url.startsWith(p))) return next(req);
  return next(withBearer(req, auth.currentToken())).pipe(
    catchError((err: unknown) => {
      if (!(err instanceof HttpErrorResponse) || err.status !== 401) return throwError(() => err);
      return from(auth.refresh()).pipe(
        switchMap((token) => {
          if (!token) {
            void auth.expired();
            return throwError(() => err);
          }
          return next(withBearer(req, token));
        }),
      );
    }),
  );
};
