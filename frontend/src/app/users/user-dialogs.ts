import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MAT_DIALOG_DATA, MatDialogModule, MatDialogRef } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatSelectModule } from '@angular/material/select';
import { ROLES, type UpdateUserRequest, type UserView } from '@vicer/protocol';
import { apiMessage, fieldErrors } from '../auth/auth.service';
import { roleName } from '../i18n/messages';
import { UsersApi } from './users.api';

/** New user (no data) or edit (a user): email, name, role, and password (new) or disabled (edit). */
@Component({
  selector: 'app-user-form-dialog',
  imports: [ReactiveFormsModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatCheckboxModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>@if (user) {<ng-container i18n>Edit {{ user.email }}</ng-container>} @else {<ng-container i18n>New user</ng-container>}</h2>
    <form [formGroup]="form" (ngSubmit)="save()">
      <mat-dialog-content class="fields">
        <mat-form-field><mat-label i18n>Email</mat-label><input matInput formControlName="email" />@if (errors()['email']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}</mat-form-field>
        <mat-form-field><mat-label i18n>Name</mat-label><input matInput formControlName="name" />@if (errors()['name']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}</mat-form-field>
        @if (!user) {
          <mat-form-field><mat-label i18n>Password</mat-label><input matInput type="password" formControlName="password" />@if (errors()['password']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}</mat-form-field>
        }
        <mat-form-field>
          <mat-label i18n>Role</mat-label>
          <mat-select formControlName="role">
            @for (r of roles; track r) {<mat-option [value]="r">{{ roleName(r) }}</mat-option>}
          </mat-select>
        </mat-form-field>
        @if (user) {
          <mat-checkbox formControlName="disabled" i18n>Disabled</mat-checkbox>
        }
        @if (error()) {<p class="err" role="alert">{{ error() }}</p>}
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close i18n>Cancel</button>
        <button mat-flat-button type="submit">@if (user) {<ng-container i18n>Save</ng-container>} @else {<ng-container i18n>Create</ng-container>}</button>
      </mat-dialog-actions>
    </form>
  `,
  styles: `.fields { display: flex; flex-direction: column; gap: 4px; min-width: min(380px, 80vw); } .err { color: var(--mat-sys-error); }`,
})
export class UserFormDialog {
  protected readonly user = inject<UserView | null>(MAT_DIALOG_DATA);
  private readonly ref = inject(MatDialogRef<UserFormDialog, UserView>);
  private readonly api = inject(UsersApi);
  protected readonly roles = ROLES;
  protected readonly roleName = roleName;
  protected readonly error = signal<string | null>(null);
  protected readonly errors = signal<Record<string, string>>({});
  protected readonly form = inject(FormBuilder).nonNullable.group({
    email: this.user?.email ?? '',
    name: this.user?.name ?? '',
    password: '',
    role: this.user?.role ?? ('user' as UserView['role']),
    disabled: this.user?.disabled ?? false,
  });

  protected async save(): Promise<void> {
    this.error.set(null);
    this.errors.set({});
    const v = this.form.getRawValue();
    try {
      if (this.user) {
        const patch: UpdateUserRequest = {};
        if (v.email !== this.user.email) patch.email = v.email;
        if (v.name !== this.user.name) patch.name = v.name;
        if (v.role !== this.user.role) patch.role = v.role;
        if (v.disabled !== this.user.disabled) patch.disabled = v.disabled;
        this.ref.close(await this.api.update(this.user.id, patch));
      } else {
        this.ref.close(await this.api.create({ email: v.email, password: v.password, role: v.role, ...(v.name.trim() ? { name: v.name } : {}) }));
      }
    } catch (err) {
      const f = fieldErrors(err);
      this.errors.set(f);
      if (!Object.keys(f).length) this.error.set(apiMessage(err));
    }
  }
}

@Component({
  selector: 'app-reset-password-dialog',
  imports: [ReactiveFormsModule, MatDialogModule, MatFormFieldModule, MatInputModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title i18n>Reset the password of {{ user.email }}</h2>
    <form [formGroup]="form" (ngSubmit)="save()">
      <mat-dialog-content>
        <mat-form-field><mat-label i18n>New password</mat-label><input matInput type="password" formControlName="password" /></mat-form-field>
        @if (error()) {<p class="err" role="alert">{{ error() }}</p>}
        <p i18n>Every session of this account is signed out.</p>
      </mat-dialog-content>
      <mat-dialog-actions align="end">
        <button mat-button type="button" mat-dialog-close i18n>Cancel</button>
        <button mat-flat-button type="submit" i18n>Reset password</button>
      </mat-dialog-actions>
    </form>
  `,
  styles: `.err { color: var(--mat-sys-error); }`,
})
export class ResetPasswordDialog {
  protected readonly user = inject<UserView>(MAT_DIALOG_DATA);
  private readonly ref = inject(MatDialogRef<ResetPasswordDialog, boolean>);
  private readonly api = inject(UsersApi);
  protected readonly error = signal<string | null>(null);
  protected readonly form = inject(FormBuilder).nonNullable.group({ password: '' });

  protected async save(): Promise<void> {
    try {
      await this.api.update(this.user.id, { password: this.form.getRawValue().password });
      this.ref.close(true);
    } catch (err) {
      this.error.set(apiMessage(err));
    }
  }
}

@Component({
  selector: 'app-confirm-dialog',
  imports: [MatDialogModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h2 mat-dialog-title>{{ data.title }}</h2>
    <mat-dialog-content>{{ data.text }}</mat-dialog-content>
    <mat-dialog-actions align="end">
      <button mat-button type="button" [mat-dialog-close]="false" i18n>Cancel</button>
      <button mat-flat-button type="button" [mat-dialog-close]="true">{{ data.confirm }}</button>
    </mat-dialog-actions>
  `,
})
export class ConfirmDialog {
  protected readonly data = inject<{ title: string; text: string; confirm: string }>(MAT_DIALOG_DATA);
}
