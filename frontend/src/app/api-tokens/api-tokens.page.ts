import { DatePipe } from '@angular/common';
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatCheckboxModule } from '@angular/material/checkbox';
import { MatDialog } from '@angular/material/dialog';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatTableModule } from '@angular/material/table';
import { API_TOKEN_DAYS_DEFAULT, API_TOKEN_DAYS_MAX, API_TOKEN_NAME_MAX, grantableScopes, TOKEN_SCOPES_DEFAULT, type ApiTokenView, type CreatedApiToken, type TokenScope } from '@vicer/protocol';
import { tokenScopeName } from '../i18n/messages';
import { firstValueFrom } from 'rxjs';
import { apiMessage, AuthService, fieldErrors } from '../auth/auth.service';
import { ToastService } from '../shell/toast.service';
import { ConfirmDialog } from '../users/user-dialogs';
import { ApiTokensApi } from './api-tokens.api';

/** Personal API tokens for scripts: make one (its secret shown once), see when each was last used, revoke. */
@Component({
  selector: 'app-api-tokens',
  imports: [ReactiveFormsModule, DatePipe, MatTableModule, MatFormFieldModule, MatInputModule, MatButtonModule, MatCardModule, MatCheckboxModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h1 i18n>API tokens</h1>
    <p class="lead" i18n>A token lets a script call the REST API as you, within your role and the scopes you give it: <code>Authorization: Bearer vct_…</code>. Whatever its scopes, it cannot change an email, a password or a role, make or remove admins, nor make other tokens. Changing your password or signing out everywhere revokes your tokens.</p>
    <form [formGroup]="form" (ngSubmit)="create()" aria-label="New API token" i18n-aria-label>
      <mat-form-field>
        <mat-label i18n>Token name</mat-label>
        <input matInput formControlName="name" [maxlength]="nameMax" />
        @if (errors()['name']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}
      </mat-form-field>
      <mat-form-field class="days">
        <mat-label i18n>Expires in (days)</mat-label>
        <input matInput type="number" min="1" [max]="daysMax" formControlName="expiresInDays" />
        @if (errors()['expiresInDays']; as e) {<mat-hint class="err">{{ e }}</mat-hint>}
      </mat-form-field>
      <fieldset class="scopes">
        <legend i18n>Scopes</legend>
        @for (scope of grantable(); track scope) {
          <mat-checkbox [checked]="scopes().includes(scope)" (change)="toggle(scope, $event.checked)">{{ scopeName(scope) }}</mat-checkbox>
        }
        @if (errors()['scopes']; as e) {<span class="err">{{ e }}</span>}
      </fieldset>
      <button mat-flat-button type="submit" i18n>Create token</button>
    </form>
    @if (created(); as c) {
      <mat-card class="secret" appearance="outlined" role="status">
        <mat-card-content>
          <p><strong i18n>Copy “{{ c.name }}” now: it is not shown again.</strong></p>
          <div class="copy">
            <input class="token" readonly [value]="c.token" aria-label="The new token" i18n-aria-label (focus)="$any($event.target).select()" />
            <button mat-stroked-button type="button" (click)="copy(c.token)" i18n>Copy</button>
            <button mat-button type="button" (click)="created.set(null)" i18n>Done</button>
          </div>
        </mat-card-content>
      </mat-card>
    }
    <h2 i18n>Your tokens</h2>
    @if (own().length) {
      <div class="scroll">
      <table mat-table [dataSource]="own()" aria-label="Your tokens" i18n-aria-label>
        <ng-container matColumnDef="name"><th mat-header-cell *matHeaderCellDef i18n>Name</th><td mat-cell *matCellDef="let t">{{ t.name }}</td></ng-container>
        <ng-container matColumnDef="prefix"><th mat-header-cell *matHeaderCellDef i18n>Starts with</th><td mat-cell *matCellDef="let t"><code>{{ t.prefix }}…</code></td></ng-container>
        <ng-container matColumnDef="scopes"><th mat-header-cell *matHeaderCellDef i18n>Scopes</th><td mat-cell *matCellDef="let t">{{ scopeList(t.scopes) }}</td></ng-container>
        <ng-container matColumnDef="createdAt"><th mat-header-cell *matHeaderCellDef i18n>Created</th><td mat-cell *matCellDef="let t">{{ t.createdAt | date: 'short' }}</td></ng-container>
        <ng-container matColumnDef="expiresAt"><th mat-header-cell *matHeaderCellDef i18n>Expires</th><td mat-cell *matCellDef="let t">@if (t.expired) {<span class="expired" i18n>expired</span> } {{ t.expiresAt | date: 'mediumDate' }}</td></ng-container>
        <ng-container matColumnDef="lastUsedAt"><th mat-header-cell *matHeaderCellDef i18n>Last used</th><td mat-cell *matCellDef="let t">@if (t.lastUsedAt) {{{ t.lastUsedAt | date: 'short' }}} @else {<ng-container i18n>never</ng-container>}</td></ng-container>
        <ng-container matColumnDef="actions">
          <th mat-header-cell *matHeaderCellDef i18n>Actions</th>
          <td mat-cell *matCellDef="let t"><button mat-button type="button" (click)="revoke(t, 'own')" [attr.aria-label]="revokeLabel(t)" i18n>Revoke</button></td>
        </ng-container>
        <tr mat-header-row *matHeaderRowDef="ownColumns"></tr>
        <tr mat-row *matRowDef="let row; columns: ownColumns"></tr>
      </table>
      </div>
    } @else {
      <p i18n>No tokens yet.</p>
    }
    @if (auth.can('users:manage')) {
      <h2 i18n>Everyone’s tokens</h2>
      @if (all().length) {
        <div class="scroll">
        <table mat-table [dataSource]="all()" aria-label="Everyone’s tokens" i18n-aria-label>
          <ng-container matColumnDef="owner"><th mat-header-cell *matHeaderCellDef i18n>Owner</th><td mat-cell *matCellDef="let t">{{ t.owner.email }}</td></ng-container>
          <ng-container matColumnDef="name"><th mat-header-cell *matHeaderCellDef i18n>Name</th><td mat-cell *matCellDef="let t">{{ t.name }}</td></ng-container>
          <ng-container matColumnDef="scopes"><th mat-header-cell *matHeaderCellDef i18n>Scopes</th><td mat-cell *matCellDef="let t">{{ scopeList(t.scopes) }}</td></ng-container>
          <ng-container matColumnDef="expiresAt"><th mat-header-cell *matHeaderCellDef i18n>Expires</th><td mat-cell *matCellDef="let t">@if (t.expired) {<span class="expired" i18n>expired</span> } {{ t.expiresAt | date: 'mediumDate' }}</td></ng-container>
          <ng-container matColumnDef="lastUsedAt"><th mat-header-cell *matHeaderCellDef i18n>Last used</th><td mat-cell *matCellDef="let t">@if (t.lastUsedAt) {{{ t.lastUsedAt | date: 'short' }}} @else {<ng-container i18n>never</ng-container>}</td></ng-container>
          <ng-container matColumnDef="actions">
            <th mat-header-cell *matHeaderCellDef i18n>Actions</th>
            <td mat-cell *matCellDef="let t"><button mat-button type="button" (click)="revoke(t, 'any')" [attr.aria-label]="revokeOfLabel(t)" i18n>Revoke</button></td>
          </ng-container>
          <tr mat-header-row *matHeaderRowDef="allColumns"></tr>
          <tr mat-row *matRowDef="let row; columns: allColumns"></tr>
        </table>
        </div>
      } @else {
        <p i18n>Nobody has a token.</p>
      }
    }
    <h2 i18n>Sign out everywhere</h2>
    <p class="lead" i18n>Ends every session of your account, this one too, and revokes all your API tokens.</p>
    <button mat-stroked-button type="button" (click)="signOutEverywhere()" i18n>Sign out everywhere</button>
  `,
  styles: `
    h1 { margin: 0 0 8px; font-size: 1.4rem; }
    h2 { font-size: 1.1rem; margin-top: 24px; }
    .lead { max-width: 70ch; }
    form { display: flex; flex-wrap: wrap; align-items: baseline; gap: 12px; }
    .days { width: 160px; }
    .scopes { display: flex; flex-wrap: wrap; gap: 4px 12px; border: 1px solid var(--mat-sys-outline-variant); border-radius: 4px; padding: 4px 12px; }
    .secret { margin: 12px 0; max-width: 760px; }
    .copy { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
    .token { flex: 1; min-width: 260px; font-family: monospace; font-size: 0.9rem; padding: 8px; border: 1px solid var(--mat-sys-outline); border-radius: 4px; background: var(--mat-sys-surface-container); color: var(--mat-sys-on-surface); }
    .scroll { overflow-x: auto; }
    table { width: 100%; }
    .expired { color: var(--mat-sys-error); font-weight: 500; }
    .err { color: var(--mat-sys-error); }
  `,
})
export class ApiTokensPage {
  protected readonly auth = inject(AuthService);
  private readonly api = inject(ApiTokensApi);
  private readonly dialog = inject(MatDialog);
  private readonly toast = inject(ToastService);
  protected readonly nameMax = API_TOKEN_NAME_MAX;
  protected readonly daysMax = API_TOKEN_DAYS_MAX;
  protected readonly form = inject(FormBuilder).nonNullable.group({ name: '', expiresInDays: API_TOKEN_DAYS_DEFAULT });
  protected readonly own = signal<ApiTokenView[]>([]);
  protected readonly all = signal<ApiTokenView[]>([]);
  protected readonly created = signal<CreatedApiToken | null>(null);
  protected readonly errors = signal<Record<string, string>>({});
  protected readonly revokeLabel = (t: ApiTokenView) => $localize`Revoke ${t.name}:name:`;
  protected readonly revokeOfLabel = (t: ApiTokenView) => $localize`Revoke ${t.name}:name: of ${t.owner.email}:email:`;
  protected readonly ownColumns = ['name', 'prefix', 'scopes', 'createdAt', 'expiresAt', 'lastUsedAt', 'actions'];
  protected readonly allColumns = ['owner', 'name', 'scopes', 'expiresAt', 'lastUsedAt', 'actions'];
  /** The scopes this user may give (read only by default, as the server does). */
  protected readonly grantable = computed(() => {
    const role = this.auth.user()?.role;
    return role ? grantableScopes(role) : [];
  });
  protected readonly scopes = signal<TokenScope[]>([...TOKEN_SCOPES_DEFAULT]);
  protected readonly scopeName = tokenScopeName;
  protected readonly scopeList = (l: TokenScope[]) => l.map(tokenScopeName).join(', ');

  protected toggle(scope: TokenScope, on: boolean): void {
    this.scopes.update((l) => (on ? [...new Set([...l, scope])] : l.filter((s) => s !== scope)));
  }

  constructor() {
    void this.load();
  }

  protected async create(): Promise<void> {
    this.errors.set({});
    const v = this.form.getRawValue();
    try {
      this.created.set(await this.api.create({ name: v.name, expiresInDays: Number(v.expiresInDays), scopes: this.scopes() }));
      this.form.reset();
      this.scopes.set([...TOKEN_SCOPES_DEFAULT]);
      await this.load();
    } catch (err) {
      this.errors.set(fieldErrors(err));
      if (!Object.keys(fieldErrors(err)).length) this.toast.error(apiMessage(err));
    }
  }

  protected async signOutEverywhere(): Promise<void> {
    const ok = await firstValueFrom(
      this.dialog.open(ConfirmDialog, { data: { title: $localize`Sign out everywhere?`, text: $localize`Every device signed in to your account is signed out, and your API tokens stop working.`, confirm: $localize`Sign out everywhere` } }).afterClosed(),
    );
    if (ok) await this.auth.logoutEverywhere();
  }

  protected async copy(token: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(token);
      this.toast.info($localize`Token copied`);
    } catch {
      this.toast.error($localize`Cannot reach the clipboard: select the token and copy it`);
    }
  }

  protected async revoke(t: ApiTokenView, scope: 'own' | 'any'): Promise<void> {
    const theirs = scope === 'any' && t.owner.id !== this.auth.user()?.id;
    const ok = await firstValueFrom(
      this.dialog.open(ConfirmDialog, { data: { title: theirs ? $localize`Revoke “${t.name}:name:” of ${t.owner.email}:email:?` : $localize`Revoke “${t.name}:name:”?`, text: $localize`Scripts using it stop working at once. This cannot be undone.`, confirm: $localize`Revoke` } }).afterClosed(),
    );
    if (!ok) return;
    try {
      await (scope === 'own' ? this.api.revokeOwn(t.id) : this.api.revokeAny(t.id));
      this.toast.info($localize`Revoked “${t.name}:name:”`);
      await this.load();
    } catch (err) {
      this.toast.error(err, $localize`Cannot revoke`);
    }
  }

  private async load(): Promise<void> {
    try {
      this.own.set(await this.api.listOwn());
      if (this.auth.can('users:manage')) this.all.set(await this.api.listAll());
    } catch (err) {
      this.toast.error(err, $localize`Cannot load tokens`);
    }
  }
}
