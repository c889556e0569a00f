import { HttpErrorResponse } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, inject, input, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { Router, RouterLink } from '@angular/router';
import { LanguageSwitchComponent } from '../i18n/language';
import { apiMessage, AuthService } from './auth.service';

@Component({
  selector: 'app-login',
  imports: [ReactiveFormsModule, RouterLink, MatCardModule, MatFormFieldModule, MatInputModule, MatButtonModule, LanguageSwitchComponent],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <main>
    <mat-card class="auth-card" appearance="outlined">
      <mat-card-header><mat-card-title><h1 i18n>Sign in to vicer</h1></mat-card-title></mat-card-header>
      <mat-card-content>
        @if (created()) {
          <p class="note" role="status" i18n>Account created. Sign in with it.</p>
        }
        <form [formGroup]="form" (ngSubmit)="submit()">
          <mat-form-field>
            <mat-label i18n>Email</mat-label>
            <input matInput formControlName="email" type="email" autocomplete="username" required />
          </mat-form-field>
          <mat-form-field>
            <mat-label i18n>Password</mat-label>
            <input matInput formControlName="password" type="password" autocomplete="current-password" required />
          </mat-form-field>
          @if (error()) {
            <p class="error" role="alert">{{ error() }}</p>
          }
          <button mat-flat-button type="submit" [disabled]="busy()" i18n>Sign in</button>
        </form>
      </mat-card-content>
      <mat-card-actions><a mat-button routerLink="/signup" i18n>Create account</a><span class="spacer"></span><app-language-switch /></mat-card-actions>
    </mat-card>
    </main>
  `,
  styleUrl: './auth-card.scss',
})
export class LoginPage {
  private readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  readonly returnUrl = input<string>();
  readonly email = input<string>();
  readonly created = input<string>();
  protected readonly busy = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly form = inject(FormBuilder).nonNullable.group({ email: ['', [Validators.required]], password: ['', [Validators.required]] });

  constructor() {
    queueMicrotask(() => this.email() && this.form.controls.email.setValue(this.email()!));
  }

  protected async submit(): Promise<void> {
    if (this.form.invalid) {
      this.error.set($localize`Enter your email and password`);
      return;
    }
    this.busy.set(true);
    this.error.set(null);
    try {
      await this.auth.login(this.form.getRawValue());
      const target = this.returnUrl();
      await this.router.navigateByUrl(target && target.startsWith('/') && !target.startsWith('//') ? target : '/drive');
    } catch (err) {
      if (err instanceof HttpErrorResponse && err.status === 429) {
        const wait = err.headers.get('Retry-After');
        this.error.set(wait ? $localize`Too many failed attempts. Try again in ${wait}:seconds: seconds.` : $localize`Too many failed attempts. Try again in a few seconds.`);
      } else this.error.set(apiMessage(err, $localize`Sign-in failed`));
    } finally {
      this.busy.set(false);
    }
  }
}
