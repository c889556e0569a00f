import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvCell, csvRow, csvStream } from '../src/connections/csv.js';
import { sqliteDatabase } from './helpers/databases.js';
import { connectionsSuite } from './suites/connections.suite.js';

describe('CSV cells', () => {
  it('quotes commas, quotes and newlines; keeps unicode; defuses formulas', () => {
    assert.equal(csvCell('plain'), 'plain');
    assert.equal(csvCell('a,b'), '"a,b"');
    assert.equal(csvCell('say "hi"'), '"say ""hi"""');
    assert.equal(csvCell('two\nlines'), '"two\nlines"');
    assert.equal(csvCell('자동차 🚗'), '자동차 🚗');
    for (const f of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) assert.ok(csvCell(f).replace(/^"/, '').startsWith("'"), f);
    assert.equal(csvCell('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvCell(-5), '-5', 'numbers are data, not formulas');
    assert.equal(csvCell(null), '');
    assert.equal(csvRow(['a', 1, null]), 'a,1,\r\n');
  });
});

describe('CSV stream', () => {
  it("holds memory bounded: it fetches only a few pages ahead of a slow reader", async () => {
    const PAGE = 1000;
    let fetched = 0;
    let consumedRows = 0;
    let maxAhead = 0;
    const stream = csvStream<number>(['n'], (n) => [n], async (last) => {
      const start = last === undefined ? 0 : last + 1;
      if (start >= 100 * PAGE) return [];
      fetched += PAGE;
      maxAhead = Math.max(maxAhead, fetched - consumedRows);
      return Array.from({ length: PAGE }, (_, i) => start + i);
    });
    let lines = 0;
    for await (const chunk of stream) {
      const n = (chunk.toString().match(/\r\n/g) ?? []).length;
      lines += n;
      consumedRows = Math.max(0, lines - 1);
      await new Promise((r) => setImmediate(r)); // a slow consumer
    }
    assert.equal(lines, 100 * PAGE + 1);
    // Bounded by the stream's high-water mark (16 KiB) plus one page — not the 100 pages of the whole export.
    assert.ok(maxAhead <= 5 * PAGE, `fetched ${maxAhead} rows ahead of the reader`);
  });
});

connectionsSuite(sqliteDatabase);
