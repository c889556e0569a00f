import { Injectable } from '@angular/core';
import { MatPaginatorIntl } from '@angular/material/paginator';

/** Material's paginator in the app's language. */
@Injectable()
export class LocalizedPaginatorIntl extends MatPaginatorIntl {
  override itemsPerPageLabel = $localize`Items per page:`;
  override nextPageLabel = $localize`Next page`;
  override previousPageLabel = $localize`Previous page`;
  override firstPageLabel = $localize`First page`;
  override lastPageLabel = $localize`Last page`;
  override getRangeLabel = (page: number, pageSize: number, length: number): string => {
    if (length === 0 || pageSize === 0) return $localize`0 of ${length}:total:`;
    const start = page * pageSize;
    const end = Math.min(start + pageSize, length);
    return $localize`${start + 1}:first: – ${end}:last: of ${length}:total:`;
  };
}
