import { HttpErrorResponse } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, inject, input, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { Router, RouterLink } from '@angular/router';
import { apiMessage, AuthService } from './auth.service';

@Component({
  selector: 'app-login',
  imports: [ReactiveFormsModule, RouterLink, MatCardModule, MatFormFieldModule, MatInputModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-card class="auth-card" appearance="outlined">
      <mat-card-header><mat-card-title><h1>Sign in to vicer</h1></mat-card-title></mat-card-header>
      <mat-card-content>
        @if (created()) {
          <p class="note" role="status">Account created. Sign in with it.</p>
        }
        <form [formGroup]="form" (ngSubmit)="submit()">
          <mat-form-field>
            <mat-label>Email</mat-label>
            <input matInput formControlName="email" type="email" autocomplete="username" required />
          </mat-form-field>
          <mat-form-field>
            <mat-label>Password</mat-label>
            <input matInput formControlName="password" type="password" autocomplete="current-password" required />
          </mat-form-field>
          @if (error()) {
            <p class="error" role="alert">{{ error() }}</p>
          }
          <button mat-flat-button type="submit" [disabled]="busy()">Sign in</button>
        </form>
      </mat-card-content>
      <mat-card-actions><a mat-button routerLink="/signup">Create account</a></mat-card-actions>
    </mat-card>
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
      this.error.set('Enter your email and password');
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
        this.error.set(`Too many failed attempts. Try again in ${wait ?? 'a few'} seconds.`);
      } else this.error.set(apiMessage(err, 'Sign-in failed'));
    } finally {
      this.busy.set(false);
    }
  }
}
