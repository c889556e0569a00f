import { DatePipe } from '@angular/common';
import { HttpClient, HttpParams } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, DestroyRef, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { MatButtonModule } from '@angular/material/button';
import { MatFormFieldModule } from '@angular/material/form-field';
import { MatInputModule } from '@angular/material/input';
import { MatPaginatorModule, type PageEvent } from '@angular/material/paginator';
import { MatSelectModule } from '@angular/material/select';
import { MatSlideToggleModule } from '@angular/material/slide-toggle';
import { MatTableModule } from '@angular/material/table';
import { CONNECTIONS_EVENTS, type ConnectionsUpdate, type ConnectionView, type MaintenanceState, type Page, type RecordingView } from '@vicer/protocol';
import { RouterLink } from '@angular/router';
import { AuthService } from '../auth/auth.service';
import { firstValueFrom } from 'rxjs';
import { connectionKindName, disconnectReasonName } from '../i18n/messages';
import { RelaySocketService } from '../relay/relay-socket.service';
import { ToastService } from '../shell/toast.service';

/** Admin: who is connected now (live, no polling), the history with filters, CSV export, kick, maintenance. */
@Component({
  selector: 'app-connections',
  imports: [ReactiveFormsModule, DatePipe, RouterLink, MatTableModule, MatPaginatorModule, MatButtonModule, MatFormFieldModule, MatInputModule, MatSelectModule, MatSlideToggleModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section aria-label="Maintenance" i18n-aria-label class="maintenance">
      <mat-slide-toggle [checked]="maintenance().enabled" (change)="setMaintenance($event.checked)" i18n>Maintenance mode (closed to new sessions)</mat-slide-toggle>
      <mat-form-field subscriptSizing="dynamic" class="grow"><mat-label i18n>Maintenance message</mat-label><input matInput [value]="maintenance().message" #msg (change)="message.set(msg.value)" /></mat-form-field>
    </section>

    <h1 i18n>Active sessions <small>({{ active().length }})</small></h1>
    <table mat-table [dataSource]="active()" aria-label="Active sessions" i18n-aria-label>
      <ng-container matColumnDef="kind"><th mat-header-cell *matHeaderCellDef i18n>Kind</th><td mat-cell *matCellDef="let c">{{ kindName(c.kind) }}</td></ng-container>
      <ng-container matColumnDef="name"><th mat-header-cell *matHeaderCellDef i18n>Who</th><td mat-cell *matCellDef="let c">{{ c.name }}</td></ng-container>
      <ng-container matColumnDef="ip"><th mat-header-cell *matHeaderCellDef i18n>From</th><td mat-cell *matCellDef="let c">{{ c.ip }}:{{ c.port }}</td></ng-container>
      <ng-container matColumnDef="connectedAt"><th mat-header-cell *matHeaderCellDef i18n>Since</th><td mat-cell *matCellDef="let c">{{ c.connectedAt | date: 'mediumTime' }}</td></ng-container>
      <ng-container matColumnDef="traffic"><th mat-header-cell *matHeaderCellDef i18n>Messages in/out</th><td mat-cell *matCellDef="let c">{{ c.messagesIn }} / {{ c.messagesOut }}</td></ng-container>
      <ng-container matColumnDef="kick"><th mat-header-cell *matHeaderCellDef><span class="visually-hidden" i18n>Actions</span></th><td mat-cell *matCellDef="let c"><button mat-stroked-button type="button" (click)="kick(c)" [attr.aria-label]="kickLabel(c)" i18n>Kick</button></td></ng-container>
      <tr mat-header-row *matHeaderRowDef="activeColumns"></tr>
      <tr mat-row *matRowDef="let row; columns: activeColumns"></tr>
    </table>

    <h1 i18n>History</h1>
    <form class="filters" [formGroup]="filters" (ngSubmit)="search(1)">
      <mat-form-field subscriptSizing="dynamic"><mat-label i18n>State</mat-label>
        <mat-select formControlName="state"><mat-option value="all" i18n>all</mat-option><mat-option value="active" i18n>active</mat-option><mat-option value="closed" i18n>closed</mat-option></mat-select>
      </mat-form-field>
      <mat-form-field subscriptSizing="dynamic"><mat-label i18n>Kind</mat-label>
        <mat-select formControlName="kind"><mat-option value="" i18n>any</mat-option><mat-option value="operator" i18n>operator</mat-option><mat-option value="vehicle" i18n>vehicle</mat-option></mat-select>
      </mat-form-field>
      <mat-form-field subscriptSizing="dynamic"><mat-label i18n>From</mat-label><input matInput type="date" formControlName="from" /></mat-form-field>
      <mat-form-field subscriptSizing="dynamic"><mat-label i18n>To</mat-label><input matInput type="date" formControlName="to" /></mat-form-field>
      <button mat-flat-button type="submit" i18n>Filter</button>
      <button mat-stroked-button type="button" (click)="exportCsv()" i18n>Export CSV</button>
    </form>
    <table mat-table [dataSource]="history().items" aria-label="Connection history" i18n-aria-label>
      <ng-container matColumnDef="kind"><th mat-header-cell *matHeaderCellDef i18n>Kind</th><td mat-cell *matCellDef="let c">{{ kindName(c.kind) }}</td></ng-container>
      <ng-container matColumnDef="name"><th mat-header-cell *matHeaderCellDef i18n>Who</th><td mat-cell *matCellDef="let c">{{ c.name }}</td></ng-container>
      <ng-container matColumnDef="ip"><th mat-header-cell *matHeaderCellDef i18n>From</th><td mat-cell *matCellDef="let c">{{ c.ip }}</td></ng-container>
      <ng-container matColumnDef="connectedAt"><th mat-header-cell *matHeaderCellDef i18n>Connected</th><td mat-cell *matCellDef="let c">{{ c.connectedAt | date: 'short' }}</td></ng-container>
      <ng-container matColumnDef="disconnectedAt"><th mat-header-cell *matHeaderCellDef i18n>Ended</th><td mat-cell *matCellDef="let c">@if (c.disconnectedAt) {{{ c.disconnectedAt | date: 'short' }}} @else {<ng-container i18n>active</ng-container>}</td></ng-container>
      <ng-container matColumnDef="reason"><th mat-header-cell *matHeaderCellDef i18n>How</th><td mat-cell *matCellDef="let c">{{ reasonName(c.disconnectReason) }}</td></ng-container>
      <ng-container matColumnDef="recordings">
        <th mat-header-cell *matHeaderCellDef i18n>Drives recorded</th>
        <td mat-cell *matCellDef="let c">
          @for (r of recordingsOf().get(c.id) ?? []; track r.id) {
            <a mat-button [routerLink]="['/recordings', r.id]" [attr.aria-label]="replayLabel(r)" i18n>Replay {{ r.vehicleName }}</a>
          }
        </td>
      </ng-container>
      <tr mat-header-row *matHeaderRowDef="historyColumns"></tr>
      <tr mat-row *matRowDef="let row; columns: historyColumns"></tr>
    </table>
    <mat-paginator [length]="history().total" [pageIndex]="history().page - 1" [pageSize]="history().pageSize" [pageSizeOptions]="[25, 50, 100, 500]" (page)="page($event)" aria-label="Pages of history" i18n-aria-label />
  `,
  styles: `
    h1 { font-size: 1.2rem; margin: 20px 0 8px; } h1 small { font-weight: 400; opacity: .7; }
    table { width: 100%; }
    .maintenance, .filters { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; }
    .grow { flex: 1; min-width: 240px; }
  `,
})
export class ConnectionsPage {
  private readonly http = inject(HttpClient);
  private readonly auth = inject(AuthService);
  private readonly relay = inject(RelaySocketService);
  private readonly toast = inject(ToastService);
  protected readonly kindName = connectionKindName;
  protected readonly kickLabel = (c: ConnectionView) => $localize`Kick ${c.name}:name:`;
  protected readonly reasonName = disconnectReasonName;
  protected readonly activeColumns = ['kind', 'name', 'ip', 'connectedAt', 'traffic', 'kick'];
  protected readonly historyColumns = ['kind', 'name', 'ip', 'connectedAt', 'disconnectedAt', 'reason', ...(this.auth.can('recordings:manage') ? ['recordings'] : [])];
  /** The recordings of the drives each listed session made, by connection id. */
  protected readonly recordingsOf = signal(new Map<string, RecordingView[]>());
  protected readonly replayLabel = (r: RecordingView) => $localize`Replay the drive of ${r.vehicleName}:vehicle: from ${new Date(r.startedAt).toLocaleString()}:start:`;
  protected readonly active = signal<ConnectionView[]>([]);
  protected readonly history = signal<Page<ConnectionView>>({ items: [], total: 0, page: 1, pageSize: 50 });
  protected readonly maintenance = signal<MaintenanceState>({ enabled: false, message: '', updatedAt: null });
  protected readonly message = signal<string | null>(null);
  protected readonly filters = inject(FormBuilder).nonNullable.group({ state: 'all', kind: '', from: '', to: '' });

  constructor() {
    const off = this.relay.on(CONNECTIONS_EVENTS.update, (u: ConnectionsUpdate) => this.live(u));
    inject(DestroyRef).onDestroy(off);
    void this.refreshActive();
    void this.search(1);
    void firstValueFrom(this.http.get<MaintenanceState>('/api/server/maintenance')).then((m) => this.maintenance.set(m), (e) => this.toast.error(e));
  }

  protected async kick(c: ConnectionView): Promise<void> {
    try {
      await firstValueFrom(this.http.delete(`/api/connections/${c.id}`));
      this.toast.info($localize`Kicked ${c.name}:name:`);
    } catch (err) {
      this.toast.error(err, $localize`Cannot kick`);
    }
  }

  protected async search(page: number, pageSize = this.history().pageSize): Promise<void> {
    try {
      const history = await firstValueFrom(this.http.get<Page<ConnectionView>>('/api/connections', { params: this.params().set('page', page).set('pageSize', pageSize) }));
      this.history.set(history);
      void this.loadRecordings(history.items);
    } catch (err) {
      this.toast.error(err, $localize`Cannot load the history`);
    }
  }

  /** Which of these sessions drove with recording on: asked for by operator session, a hundred at a time. */
  private async loadRecordings(rows: ConnectionView[]): Promise<void> {
    if (!this.auth.can('recordings:manage')) return;
    const ids = rows.filter((c) => c.kind === 'operator').map((c) => c.id);
    const found = new Map<string, RecordingView[]>();
    try {
      for (let i = 0; i < ids.length; i += 100) {
        const params = { connectionIds: ids.slice(i, i + 100).join(','), pageSize: 500 };
        for (const r of (await firstValueFrom(this.http.get<Page<RecordingView>>('/api/recordings', { params }))).items) {
          if (r.connectionId) found.set(r.connectionId, [...(found.get(r.connectionId) ?? []), r]);
        }
      }
      this.recordingsOf.set(found);
    } catch (err) {
      this.toast.error(err, $localize`Cannot load the recordings`);
    }
  }

  protected page(e: PageEvent): void {
    void this.search(e.pageIndex + 1, e.pageSize);
  }

  /** Downloads the API's CSV for the current filters (a bearer is needed, so through HttpClient, not a plain link). */
  protected async exportCsv(): Promise<void> {
    try {
      const res = await firstValueFrom(this.http.get('/api/connections/export.csv', { params: this.params(), responseType: 'blob', observe: 'response' }));
      const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? 'connections.csv';
      const url = URL.createObjectURL(res.body!);
      const a = Object.assign(document.createElement('a'), { href: url, download: name });
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      this.toast.error(err, $localize`Export failed`);
    }
  }

  protected async setMaintenance(enabled: boolean): Promise<void> {
    try {
      const body = { enabled, ...(this.message() ? { message: this.message()! } : {}) };
      this.maintenance.set(await firstValueFrom(this.http.put<MaintenanceState>('/api/server/maintenance', body)));
      this.toast.info(enabled ? $localize`Closed to new sessions` : $localize`Open again`);
    } catch (err) {
      this.toast.error(err);
    }
  }

  private async refreshActive(): Promise<void> {
    try {
      const page = await firstValueFrom(this.http.get<Page<ConnectionView>>('/api/connections', { params: { state: 'active', pageSize: 500 } }));
      this.active.set(page.items);
    } catch (err) {
      this.toast.error(err);
    }
  }

  private live(u: ConnectionsUpdate): void {
    this.active.update((list) => {
      const rest = list.filter((c) => c.id !== u.connection.id);
      return u.type === 'closed' ? rest : [u.connection, ...rest].sort((a, b) => b.connectedAt.localeCompare(a.connectedAt));
    });
  }

  private params(): HttpParams {
    const f = this.filters.getRawValue();
    let p = new HttpParams().set('state', f.state);
    if (f.kind) p = p.set('kind', f.kind);
    if (f.from) p = p.set('from', new Date(f.from).toISOString());
    if (f.to) p = p.set('to', new Date(new Date(f.to).getTime() + 86_399_999).toISOString());
    return p;
  }
}
