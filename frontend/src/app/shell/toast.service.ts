import { inject, Injectable } from '@angular/core';
import { MatSnackBar } from '@angular/material/snack-bar';
import { apiMessage } from '../auth/auth.service';

/** Short messages for the outcome of an action; failures are never silent. */
@Injectable({ providedIn: 'root' })
export class ToastService {
  private readonly snack = inject(MatSnackBar);

  info(message: string): void {
    this.snack.open(message, $localize`OK`, { duration: 3000 });
  }

  error(err: unknown, fallback = $localize`The action failed`): void {
    this.snack.open(typeof err === 'string' ? err : apiMessage(err, fallback), $localize`Dismiss`, { duration: 6000, politeness: 'assertive' });
  }
}
