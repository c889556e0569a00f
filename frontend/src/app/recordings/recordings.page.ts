import { DatePipe, DecimalPipe } from '@angular/common';
import { HttpClient } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { MatButtonModule } from '@angular/material/button';
import { MatDialog } from '@angular/material/dialog';
import { MatPaginatorModule, type PageEvent } from '@angular/material/paginator';
import { MatTableModule } from '@angular/material/table';
import { RouterLink } from '@angular/router';
import type { Page, RecordingView } from '@vicer/protocol';
import { firstValueFrom } from 'rxjs';
import { recordingEndName } from '../i18n/messages';
import { ToastService } from '../shell/toast.service';
import { ConfirmDialog } from '../users/user-dialogs';

/** Admins: the drive recordings (MCAP files) — download one to open in Foxglove, or delete it. */
@Component({
  selector: 'app-recordings',
  imports: [DatePipe, DecimalPipe, RouterLink, MatTableModule, MatPaginatorModule, MatButtonModule],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <h1 i18n>Recordings</h1>
    <p class="lead" i18n>Each drive of a recorded vehicle is one MCAP file: the video as relayed, every control, the acks, telemetry and the safety events. Replay one here, or open a download in Foxglove.</p>
    @if (page().items.length) {
      <table mat-table [dataSource]="page().items" aria-label="Recordings" i18n-aria-label>
        <ng-container matColumnDef="vehicle"><th mat-header-cell *matHeaderCellDef i18n>Vehicle</th><td mat-cell *matCellDef="let r">{{ r.vehicleName }}</td></ng-container>
        <ng-container matColumnDef="driver"><th mat-header-cell *matHeaderCellDef i18n>Driver</th><td mat-cell *matCellDef="let r">{{ r.driverName }}</td></ng-container>
        <ng-container matColumnDef="startedAt"><th mat-header-cell *matHeaderCellDef i18n>Started</th><td mat-cell *matCellDef="let r">{{ r.startedAt | date: 'short' }}</td></ng-container>
        <ng-container matColumnDef="duration"><th mat-header-cell *matHeaderCellDef i18n>Length</th><td mat-cell *matCellDef="let r">@if (r.durationMs !== null) {{{ r.durationMs / 1000 | number: '1.0-0' }} s} @else {<ng-container i18n>recording…</ng-container>}</td></ng-container>
        <ng-container matColumnDef="bytes"><th mat-header-cell *matHeaderCellDef i18n>Size</th><td mat-cell *matCellDef="let r">{{ r.bytes / 1048576 | number: '1.1-1' }} MiB</td></ng-container>
        <ng-container matColumnDef="endReason"><th mat-header-cell *matHeaderCellDef i18n>Ended by</th><td mat-cell *matCellDef="let r">{{ endName(r.endReason) }}@if (r.repaired) { <ng-container i18n>(repaired after a crash)</ng-container>}</td></ng-container>
        <ng-container matColumnDef="actions">
          <th mat-header-cell *matHeaderCellDef i18n>Actions</th>
          <td mat-cell *matCellDef="let r">
            @if (r.endedAt !== null) {
              <a mat-button [routerLink]="[r.id]" [attr.aria-label]="playLabel(r)" i18n>Replay</a>
            }
            <button mat-button type="button" [disabled]="r.endedAt === null" (click)="download(r)" [attr.aria-label]="downloadLabel(r)" i18n>Download</button>
            <button mat-button type="button" (click)="remove(r)" [attr.aria-label]="deleteLabel(r)" i18n>Delete</button>
          </td>
        </ng-container>
        <tr mat-header-row *matHeaderRowDef="columns"></tr>
        <tr mat-row *matRowDef="let row; columns: columns"></tr>
      </table>
      <mat-paginator [length]="page().total" [pageIndex]="page().page - 1" [pageSize]="page().pageSize" [pageSizeOptions]="[25, 50, 100]" (page)="go($event)" aria-label="Pages of recordings" i18n-aria-label />
    } @else {
      <p i18n>No recordings yet. Set RECORD_DRIVES=1, or turn recording on for a vehicle (PUT /api/vehicles/:id/recording).</p>
    }
  `,
  styles: `
    h1 { margin: 0 0 8px; font-size: 1.4rem; }
    .lead { max-width: 80ch; }
    table { width: 100%; }
  `,
})
export class RecordingsPage {
  private readonly http = inject(HttpClient);
  private readonly toast = inject(ToastService);
  private readonly dialog = inject(MatDialog);
  protected readonly endName = recordingEndName;
  protected readonly columns = ['vehicle', 'driver', 'startedAt', 'duration', 'bytes', 'endReason', 'actions'];
  protected readonly page = signal<Page<RecordingView>>({ items: [], total: 0, page: 1, pageSize: 25 });
  protected readonly playLabel = (r: RecordingView) => $localize`Replay the recording of ${r.vehicleName}:vehicle: from ${new Date(r.startedAt).toLocaleString()}:start:`;
  protected readonly downloadLabel = (r: RecordingView) => $localize`Download the recording of ${r.vehicleName}:vehicle: from ${new Date(r.startedAt).toLocaleString()}:start:`;
  protected readonly deleteLabel = (r: RecordingView) => $localize`Delete the recording of ${r.vehicleName}:vehicle: from ${new Date(r.startedAt).toLocaleString()}:start:`;

  constructor() {
    void this.load(1, 25);
  }

  protected go(e: PageEvent): void {
    void this.load(e.pageIndex + 1, e.pageSize);
  }

  /** Through HttpClient (the bearer is needed), saved under the server's file name. */
  protected async download(r: RecordingView): Promise<void> {
    try {
      const res = await firstValueFrom(this.http.get(`/api/recordings/${r.id}/file`, { responseType: 'blob', observe: 'response' }));
      const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') ?? '')?.[1] ?? 'recording.mcap';
      const url = URL.createObjectURL(res.body!);
      Object.assign(document.createElement('a'), { href: url, download: name }).click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      this.toast.error(err, $localize`Download failed`);
    }
  }

  protected async remove(r: RecordingView): Promise<void> {
    const ok = await firstValueFrom(
      this.dialog.open(ConfirmDialog, { data: { title: $localize`Delete this recording of ${r.vehicleName}:vehicle:?`, text: $localize`The file is removed. This cannot be undone.`, confirm: $localize`Delete` } }).afterClosed(),
    );
    if (!ok) return;
    try {
      await firstValueFrom(this.http.delete(`/api/recordings/${r.id}`));
      await this.load(this.page().page, this.page().pageSize);
    } catch (err) {
      this.toast.error(err, $localize`Cannot delete`);
    }
  }

  private async load(page: number, pageSize: number): Promise<void> {
    try {
      this.page.set(await firstValueFrom(this.http.get<Page<RecordingView>>('/api/recordings', { params: { page, pageSize } })));
    } catch (err) {
      this.toast.error(err, $localize`Cannot load the recordings`);
    }
  }
}
