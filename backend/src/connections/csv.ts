import { Readable } from 'node:stream';

const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell: RFC 4180 quoting, and text that a spreadsheet would run as a formula is defused with a leading '. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  let s = value instanceof Date ? value.toISOString() : String(value);
  if (FORMULA_START.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(values: unknown[]): string {
  return values.map(csvCell).join(',') + '\r\n';
}

/**
 * A CSV stream fed page by page: `nextPage(after)` returns rows following the last one, so memory holds one page
 * whatever the total.
 */
export function csvStream<T>(header: string[], toRow: (row: T) => unknown[], nextPage: (last: T | undefined) => Promise<T[]>): Readable {
  let last: T | undefined;
  let headerSent = false;
  let done = false;
  return new Readable({
    async read() {
      try {
        if (!headerSent) {
          headerSent = true;
          this.push(csvRow(header));
          return;
        }
        if (done) return void this.push(null);
        const rows = await nextPage(last);
        if (!rows.length) {
          done = true;
          return void this.push(null);
        }
        last = rows[rows.length - 1];
        this.push(rows.map((r) => csvRow(toRow(r))).join(''));
      } catch (err) {
        this.destroy(err as Error);
      }
    },
  });
}
