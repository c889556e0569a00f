import { provideHttpClient, withFetch, withInterceptors } from '@angular/common/http';
import { inject, provideAppInitializer, provideBrowserGlobalErrorListeners, provideZonelessChangeDetection, type ApplicationConfig } from '@angular/core';
import { MatPaginatorIntl } from '@angular/material/paginator';
import { provideRouter, withComponentInputBinding } from '@angular/router';
import { routes } from './app.routes';
import { authInterceptor } from './auth/auth.interceptor';
import { AuthService } from './auth/auth.service';
import { LocalizedPaginatorIntl } from './i18n/paginator-intl';
import { busyRetryInterceptor } from './shell/busy-retry.interceptor';

export const appConfig: ApplicationConfig = {
  providers: [
    provideBrowserGlobalErrorListeners(),
    provideZonelessChangeDetection(),
    provideRouter(routes, withComponentInputBinding()),
    provideHttpClient(withFetch(), withInterceptors([authInterceptor, busyRetryInterceptor])),
    { provide: MatPaginatorIntl, useClass: LocalizedPaginatorIntl },
    // A reload keeps the session: the refresh cookie brings back an access token before the first route runs.
    provideAppInitializer(() => inject(AuthService).restore()),
  ],
};
