import { ChangeDetectionStrategy, Component } from '@angular/core';
import { MatToolbarModule } from '@angular/material/toolbar';
import { RouterOutlet } from '@angular/router';

@Component({
  selector: 'app-root',
  imports: [RouterOutlet, MatToolbarModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <mat-toolbar><span>vicer</span></mat-toolbar>
    <main><router-outlet /></main>
  `,
  styles: `main { padding: 16px; }`,
})
export class AppComponent {}
