import { inject } from '@angular/core';
import { Router, type CanActivateFn } from '@angular/router';
import type { Permission } from '@vicer/protocol';
import { AuthService } from './auth.service';

/** Signed-in pages: anonymous visitors go to sign-in and come back after. */
export const authGuard: CanActivateFn = (_route, state) => {
  const auth = inject(AuthService);
  if (auth.signedIn()) return true;
  return inject(Router).createUrlTree(['/login'], { queryParams: { returnUrl: state.url } });
};

/** Pages needing a permission of the shared map: others see the 403 page. */
export function permissionGuard(permission: Permission): CanActivateFn {
  return () => {
    const auth = inject(AuthService);
    return auth.can(permission) ? true : inject(Router).createUrlTree(['/forbidden']);
  };
}

/** Sign-in and sign-up: already signed-in users go to the app. */
export const anonymousGuard: CanActivateFn = () => (inject(AuthService).signedIn() ? inject(Router).createUrlTree(['/drive']) : true);
