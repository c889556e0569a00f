import { HttpErrorResponse, type HttpInterceptorFn } from '@angular/common/http';
import type { ApiErrorBody } from '@vicer/protocol';
import { retry, throwError, timer } from 'rxjs';

/** Resends of one request at most, and the longest wait honoured between them. */
const MAX_RESENDS = 2;
const MAX_WAIT_S = 5;

/**
 * A 503 `database-busy` wrote nothing: the request is sent again after the server's Retry-After, at most twice, so a
 * moment of contention on the server does not reach the user as an error. Any other error passes through.
 */
export const busyRetryInterceptor: HttpInterceptorFn = (req, next) =>
  next(req).pipe(
    retry({
      count: MAX_RESENDS,
      delay: (err: unknown) => {
        const busy = err instanceof HttpErrorResponse && err.status === 503 && (err.error as Partial<ApiErrorBody> | null)?.code === 'database-busy';
        if (!busy) return throwError(() => err);
        const seconds = Number(err.headers.get('Retry-After'));
        return timer(Math.min(Number.isFinite(seconds) && seconds >= 0 ? seconds : 1, MAX_WAIT_S) * 1000);
      },
    }),
  );
