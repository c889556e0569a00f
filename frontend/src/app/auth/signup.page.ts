import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatCardModule } from '@angular/material/card';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { Router, RouterLink } from '@angular/router';
import { LanguageSwitchComponent } from '../i18n/language';
import { apiMessage, AuthService, fieldErrors } from './auth.service';

@Component({
  selector: 'app-signup',
  imports: [ReactiveFormsModule, RouterLink, MatCardModule, MatFormFieldModule, MatInputModule, MatButtonModule, LanguageSwitchComponent],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <main>
    <mat-card class="auth-card" appearance="outlined">
      <mat-card-header><mat-card-title><h1 i18n>Create an account</h1></mat-card-title></mat-card-header>
      <mat-card-content>
        <form [formGroup]="form" (ngSubmit)="submit()">
          <mat-form-field>
            <mat-label i18n>Email</mat-label>
            <input matInput formControlName="email" type="email" autocomplete="email" />
            @if (errors()['email']; as e) {
              <mat-hint class="field-error" role="alert">{{ e }}</mat-hint>
            }
          </mat-form-field>
          <mat-form-field>
            <mat-label i18n>Name</mat-label>
            <input matInput formControlName="name" autocomplete="name" />
            @if (errors()['name']; as e) {
              <mat-hint class="field-error" role="alert">{{ e }}</mat-hint>
            }
          </mat-form-field>
          <mat-form-field>
            <mat-label i18n>Password</mat-label>
            <input matInput formControlName="password" type="password" autocomplete="new-password" />
            @if (errors()['password']; as e) {
              <mat-hint class="field-error" role="alert">{{ e }}</mat-hint>
            } @else {
              <mat-hint i18n>8 to 128 characters</mat-hint>
            }
          </mat-form-field>
          @if (error()) {
            <p class="error" role="alert">{{ error() }}</p>
          }
          <button mat-flat-button type="submit" [disabled]="busy()" i18n>Create account</button>
        </form>
      </mat-card-content>
      <mat-card-actions><a mat-button routerLink="/login" i18n>I have an account</a><span class="spacer"></span><app-language-switch /></mat-card-actions>
    </mat-card>
    </main>
  `,
  styleUrl: './auth-card.scss',
})
export class SignupPage {
  private readonly auth = inject(AuthService);
  private readonly router = inject(Router);
  protected readonly busy = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly errors = signal<Record<string, string>>({});
  protected readonly form = inject(FormBuilder).nonNullable.group({ email: [''], name: [''], password: [''] });

  protected async submit(): Promise<void> {
    this.busy.set(true);
    this.error.set(null);
    this.errors.set({});
    const { email, name, password } = this.form.getRawValue();
    try {
      await this.auth.signup({ email, password, ...(name.trim() ? { name } : {}) });
      await this.router.navigate(['/login'], { queryParams: { email, created: 1 } });
    } catch (err) {
      const fields = fieldErrors(err);
      this.errors.set(fields);
      if (!Object.keys(fields).length) this.error.set(apiMessage(err, $localize`Sign-up failed`));
    } finally {
      this.busy.set(false);
    }
  }
}
