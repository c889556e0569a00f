import type { Routes } from '@angular/router';
import { anonymousGuard, authGuard, permissionGuard } from './auth/auth.guards';

export const routes: Routes = [
  { path: 'login', canActivate: [anonymousGuard], loadComponent: () => import('./auth/login.page').then((m) => m.LoginPage), title: 'Sign in · vicer' },
  { path: 'signup', canActivate: [anonymousGuard], loadComponent: () => import('./auth/signup.page').then((m) => m.SignupPage), title: 'Create account · vicer' },
  {
    path: '',
    canActivate: [authGuard],
    loadComponent: () => import('./shell/shell.component').then((m) => m.ShellComponent),
    children: [
      { path: '', pathMatch: 'full', redirectTo: 'drive' },
      { path: 'drive', loadComponent: () => import('./drive/drive.page').then((m) => m.DrivePage), title: 'Drive · vicer' },
      { path: 'users', loadComponent: () => import('./users/users.page').then((m) => m.UsersPage), title: 'Users · vicer' },
      { path: 'chat', loadComponent: () => import('./chat/chat.page').then((m) => m.ChatPage), title: 'Chat · vicer' },
      {
        path: 'connections',
        canActivate: [permissionGuard('connections:manage')],
        loadComponent: () => import('./connections/connections.page').then((m) => m.ConnectionsPage),
        title: 'Connections · vicer',
      },
      { path: 'forbidden', loadComponent: () => import('./shell/error-pages').then((m) => m.ForbiddenPage), title: 'Not allowed · vicer' },
      { path: '**', loadComponent: () => import('./shell/error-pages').then((m) => m.NotFoundPage), title: 'Not found · vicer' },
    ],
  },
];
