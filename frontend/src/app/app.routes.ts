import type { Routes } from '@angular/router';
import { anonymousGuard, authGuard, permissionGuard } from './auth/auth.guards';

export const routes: Routes = [
  { path: 'login', canActivate: [anonymousGuard], loadComponent: () => import('./auth/login.page').then((m) => m.LoginPage), title: $localize`Sign in · vicer` },
  { path: 'signup', canActivate: [anonymousGuard], loadComponent: () => import('./auth/signup.page').then((m) => m.SignupPage), title: $localize`Create account · vicer` },
  {
    path: '',
    canActivate: [authGuard],
    loadComponent: () => import('./shell/shell.component').then((m) => m.ShellComponent),
    children: [
      { path: '', pathMatch: 'full', redirectTo: 'drive' },
      { path: 'drive', loadComponent: () => import('./drive/drive.page').then((m) => m.DrivePage), title: $localize`Drive · vicer` },
      { path: 'users', loadComponent: () => import('./users/users.page').then((m) => m.UsersPage), title: $localize`Users · vicer` },
      { path: 'tokens', loadComponent: () => import('./api-tokens/api-tokens.page').then((m) => m.ApiTokensPage), title: $localize`API tokens · vicer` },
      { path: 'chat', loadComponent: () => import('./chat/chat.page').then((m) => m.ChatPage), title: $localize`Chat · vicer` },
      {
        path: 'dashboard',
        canActivate: [permissionGuard('dashboard:view')],
        loadComponent: () => import('./dashboard/dashboard.page').then((m) => m.DashboardPage),
        title: $localize`Dashboard · vicer`,
      },
      {
        path: 'recordings',
        canActivate: [permissionGuard('recordings:manage')],
        loadComponent: () => import('./recordings/recordings.page').then((m) => m.RecordingsPage),
        title: $localize`Recordings · vicer`,
      },
      {
        path: 'recordings/:id',
        canActivate: [permissionGuard('recordings:manage')],
        loadComponent: () => import('./recordings/recording-player.page').then((m) => m.RecordingPlayerPage),
        title: $localize`Replay · vicer`,
      },
      {
        path: 'connections',
        canActivate: [permissionGuard('connections:manage')],
        loadComponent: () => import('./connections/connections.page').then((m) => m.ConnectionsPage),
        title: $localize`Connections · vicer`,
      },
      { path: 'forbidden', loadComponent: () => import('./shell/error-pages').then((m) => m.ForbiddenPage), title: $localize`Not allowed · vicer` },
      { path: '**', loadComponent: () => import('./shell/error-pages').then((m) => m.NotFoundPage), title: $localize`Not found · vicer` },
    ],
  },
];
