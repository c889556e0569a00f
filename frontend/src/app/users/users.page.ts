import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, effect, inject, signal, viewChild } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatPaginator, MatPaginatorModule } from '@angular/material/paginator';
import { MatSort, MatSortModule } from '@angular/material/sort';
import { MatTableDataSource, MatTableModule } from '@angular/material/table';
import type { UserView } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';
import { apiMessage, AuthService, fieldErrors } from '../auth/auth.service';
import { ToastService } from '../shell/toast.service';
import { roleName } from '../i18n/messages';
import { ConfirmDialog, ResetPasswordDialog, UserFormDialog } from './user-dialogs';
import { UsersApi } from './users.api';

/** Admins manage every account; a user sees and edits only their own — both from GET /api/users. */
@Component({
  selector: 'app-users',
  imports: [ReactiveFormsModule, DatePipe, MatTableModule, MatSortModule, MatPaginatorModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatCardModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    @if (auth.can('users:manage')) {
      <div class="head">
        <h1 i18n>Users</h1>
        <mat-form-field class="search" subscriptSizing="dynamic"><mat-label i18n>Search</mat-label><input matInput (input)="filter($any($event.target).value)" /></mat-form-field>
        <button mat-flat-button type="button" (click)="create()" i18n>New user</button>
      </div>
      <table mat-table [dataSource]="data" matSort aria-label="Users" i18n-aria-label>
        <ng-container matColumnDef="email"><th mat-header-cell *matHeaderCellDef mat-sort-header i18n>Email</th><td mat-cell *matCellDef="let u">{{ u.email }}</td></ng-container>
        <ng-container matColumnDef="name"><th mat-header-cell *matHeaderCellDef mat-sort-header i18n>Name</th><td mat-cell *matCellDef="let u">{{ u.name }}</td></ng-container>
        <ng-container matColumnDef="role"><th mat-header-cell *matHeaderCellDef mat-sort-header i18n>Role</th><td mat-cell *matCellDef="let u">{{ roleName(u.role) }}</td></ng-container>
        <ng-container matColumnDef="createdAt"><th mat-header-cell *matHeaderCellDef mat-sort-header i18n>Created</th><td mat-cell *matCellDef="let u">{{ u.createdAt | date: 'short' }}</td></ng-container>
        <ng-container matColumnDef="lastLoginAt"><th mat-header-cell *matHeaderCellDef mat-sort-header i18n>Last login</th><td mat-cell *matCellDef="let u">@if (u.lastLoginAt) {{{ u.lastLoginAt | date: 'short' }}} @else {<ng-container i18n>never</ng-container>}</td></ng-container>
        <ng-container matColumnDef="disabled"><th mat-header-cell *matHeaderCellDef mat-sort-header i18n>Disabled</th><td mat-cell *matCellDef="let u">@if (u.disabled) {<ng-container i18n>yes</ng-container>} @else {<ng-container i18n>no</ng-container>}</td></ng-container>
        <ng-container matColumnDef="actions">
          <th mat-header-cell *matHeaderCellDef i18n>Actions</th>
          <td mat-cell *matCellDef="let u">
            <button mat-button type="button" (click)="edit(u)" [attr.aria-label]="editLabel(u)" i18n>Edit</button>
            <button mat-button type="button" (click)="reset(u)" [attr.aria-label]="resetLabel(u)" i18n>Reset password</button>
            <button mat-button type="button" (click)="remove(u)" [attr.aria-label]="deleteLabel(u)" i18n>Delete</button>
          </td>
        </ng-container>
        <tr mat-header-row *matHeaderRowDef="columns"></tr>
        <tr mat-row *matRowDef="let row; columns: columns"></tr>
      </table>
      <mat-paginator [pageSizeOptions]="[10, 25, 100]" [pageSize]="25" aria-label="Pages of users" i18n-aria-label />
    } @else if (me(); as u) {
      <mat-card class="profile" appearance="outlined">
        <mat-card-header><mat-card-title><h1 i18n>Your profile</h1></mat-card-title><mat-card-subtitle i18n>{{ roleName(u.role) }} · since {{ u.createdAt | date }}</mat-card-subtitle></mat-card-header>
        <mat-card-content>
          <form [formGroup]="profile" (ngSubmit)="saveProfile()">
            <mat-form-field><mat-label i18n>Email</mat-label><input matInput formControlName="email" />@if (errors()['email']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}</mat-form-field>
            <mat-form-field><mat-label i18n>Name</mat-label><input matInput formControlName="name" />@if (errors()['name']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}</mat-form-field>
            <button mat-flat-button type="submit" i18n>Save profile</button>
          </form>
          <form [formGroup]="password" (ngSubmit)="savePassword()">
            <h2 i18n>Change password</h2>
            <mat-form-field><mat-label i18n>Current password</mat-label><input matInput type="password" formControlName="currentPassword" autocomplete="current-password" />@if (errors()['currentPassword']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}</mat-form-field>
            <mat-form-field><mat-label i18n>New password</mat-label><input matInput type="password" formControlName="password" autocomplete="new-password" />@if (errors()['password']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}</mat-form-field>
            <button mat-stroked-button type="submit" i18n>Change password</button>
          </form>
        </mat-card-content>
      </mat-card>
    }
  `,
  styles: `
    .head { display: flex; align-items: center; flex-wrap: wrap; gap: 12px; }
    h1 { margin: 0; font-size: 1.4rem; }
    .search { flex: 1; min-width: 200px; }
    table { width: 100%; }
    .profile { max-width: 520px; }
    form { display: flex; flex-direction: column; gap: 4px; margin-bottom: 24px; }
    form button { align-self: flex-start; }
    h2 { font-size: 1.1rem; }
    .err { color: var(--mat-sys-error); }
  `,
})
export class UsersPage {
  protected readonly auth = inject(AuthService);
  private readonly api = inject(UsersApi);
  private readonly dialog = inject(MatDialog);
  private readonly toast = inject(ToastService);
  private readonly fb = inject(FormBuilder).nonNullable;
  protected readonly roleName = roleName;
  protected readonly editLabel = (u: UserView) => $localize`Edit ${u.email}:email:`;
  protected readonly resetLabel = (u: UserView) => $localize`Reset password of ${u.email}:email:`;
  protected readonly deleteLabel = (u: UserView) => $localize`Delete ${u.email}:email:`;
  protected readonly columns = ['email', 'name', 'role', 'createdAt', 'lastLoginAt', 'disabled', 'actions'];
  protected readonly data = new MatTableDataSource<UserView>([]);
  protected readonly me = signal<UserView | null>(null);
  protected readonly errors = signal<Record<string, string>>({});
  protected readonly profile = this.fb.group({ email: '', name: '' });
  protected readonly password = this.fb.group({ currentPassword: '', password: '' });
  private readonly sort = viewChild(MatSort);
  private readonly paginator = viewChild(MatPaginator);

  constructor() {
    this.data.filterPredicate = (u, f) => `${u.email} ${u.name} ${u.role}`.toLowerCase().includes(f);
    effect(() => {
      this.data.sort = this.sort() ?? null;
      this.data.paginator = this.paginator() ?? null;
    });
    void this.load();
  }

  protected filter(text: string): void {
    this.data.filter = text.trim().toLowerCase();
  }

  protected async create(): Promise<void> {
    const made = await firstValueFrom(this.dialog.open(UserFormDialog, { data: null }).afterClosed());
    if (made) {
      this.toast.info($localize`Created ${made.email}:email:`);
      await this.load();
    }
  }

  protected async edit(u: UserView): Promise<void> {
    const saved = await firstValueFrom(this.dialog.open(UserFormDialog, { data: u }).afterClosed());
    if (saved) {
      this.toast.info($localize`Saved ${saved.email}:email:`);
      await this.load();
    }
  }

  protected async reset(u: UserView): Promise<void> {
    if (await firstValueFrom(this.dialog.open(ResetPasswordDialog, { data: u }).afterClosed())) this.toast.info($localize`Password of ${u.email}:email: reset`);
  }

  protected async remove(u: UserView): Promise<void> {
    const ok = await firstValueFrom(this.dialog.open(ConfirmDialog, { data: { title: $localize`Delete ${u.email}:email:?`, text: $localize`The account and its sessions are removed. This cannot be undone.`, confirm: $localize`Delete` } }).afterClosed());
    if (!ok) return;
    try {
      await this.api.remove(u.id);
      this.toast.info($localize`Deleted ${u.email}:email:`);
      await this.load();
    } catch (err) {
      this.toast.error(err, $localize`Cannot delete`);
    }
  }

  protected async saveProfile(): Promise<void> {
    const u = this.me();
    if (!u) return;
    this.errors.set({});
    const v = this.profile.getRawValue();
    try {
      const saved = await this.api.update(u.id, { ...(v.email !== u.email ? { email: v.email } : {}), ...(v.name !== u.name ? { name: v.name } : {}) });
      this.adopt(saved);
      this.toast.info($localize`Profile saved`);
    } catch (err) {
      this.errors.set(fieldErrors(err));
      if (!Object.keys(fieldErrors(err)).length) this.toast.error(apiMessage(err));
    }
  }

  protected async savePassword(): Promise<void> {
    const u = this.me();
    if (!u) return;
    this.errors.set({});
    try {
      await this.api.update(u.id, this.password.getRawValue());
      this.password.reset();
      this.toast.info($localize`Password changed; your other sessions were signed out and your API tokens revoked`);
    } catch (err) {
      this.errors.set(fieldErrors(err));
      if (!Object.keys(fieldErrors(err)).length) this.toast.error(apiMessage(err));
    }
  }

  private async load(): Promise<void> {
    try {
      const list = await this.api.list();
      this.data.data = list;
      const mine = list.find((x) => x.id === this.auth.user()?.id) ?? null;
      if (mine) this.adopt(mine);
    } catch (err) {
      this.toast.error(err, $localize`Cannot load users`);
    }
  }

  private adopt(u: UserView): void {
    this.me.set(u);
    this.auth.updateUser(u);
    this.profile.setValue({ email: u.email, name: u.name });
  }
}
