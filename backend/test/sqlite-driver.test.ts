import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { dataSourceOptions, openDataSource } from '../src/database/database.module.js';
import { DatabaseService } from '../src/database/database.service.js';
import { WriterLock } from '../src/database/sqlite3.driver.js';
import { loadConfig } from '../src/config/config.js';
import { Setting } from '../src/connections/connection.entity.js';

describe('WriterLock', () => {
  it('hands the lock over in request order, one holder at a time', async () => {
    const lock = new WriterLock();
    const order: string[] = [];
    let holders = 0;
    await Promise.all(
      ['a', 'b', 'c', 'd'].map(async (name) => {
        const release = await lock.acquire();
        holders++;
        assert.equal(holders, 1);
        order.push(name);
        await new Promise((r) => setImmediate(r));
        holders--;
        release();
        release(); // a second release is harmless
      }),
    );
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
  });
});

describe('sqlite3 driver: one writer, whole transactions', () => {
  let dir: string;
  let ds: DataSource;
  let db: DatabaseService;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vicer-driver-'));
    ds = await openDataSource(dataSourceOptions(loadConfig({ DATA_DIR: dir })));
    db = new DatabaseService(ds);
  });
  after(async () => {
    await ds.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const value = async (key: string) => (await ds.getRepository(Setting).findOneBy({ key }))?.value ?? null;

  it('a write issued while another transaction is open waits for it, and survives its rollback', async () => {
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    let finish!: () => void;
    const hold = new Promise<void>((r) => (finish = r));
    const failing = db.transaction(async (m) => {
      await m.insert(Setting, { key: 'rolled-back', value: '1' });
      inside();
      await hold;
      throw new Error('the request failed');
    });
    await entered;
    let outsideDone = false;
    const outside = ds.getRepository(Setting).insert({ key: 'outside', value: 'kept' }).then(() => (outsideDone = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(outsideDone, false, 'the outside write waits for the open transaction');
    finish();
    await assert.rejects(failing, /the request failed/);
    await outside;
    assert.equal(await value('rolled-back'), null, 'the failed unit of work left nothing');
    assert.equal(await value('outside'), 'kept', 'the outside write was not rolled back with it');
  });

  it('reads outside transactions do not wait for the writer and see only committed rows', async () => {
    let finish!: () => void;
    const hold = new Promise<void>((r) => (finish = r));
    let inside!: () => void;
    const entered = new Promise<void>((r) => (inside = r));
    const tx = db.transaction(async (m) => {
      await m.insert(Setting, { key: 'pending', value: '1' });
      inside();
      await hold;
    });
    await entered;
    assert.equal(await value('pending'), null, 'uncommitted rows are invisible to readers');
    finish();
    await tx;
    assert.equal(await value('pending'), '1');
  });

  it('a write through a repository inside a transaction fails at once instead of deadlocking', async () => {
    await assert.rejects(
      db.transaction(async (m) => {
        await m.insert(Setting, { key: 'inner', value: '1' });
        await ds.getRepository(Setting).insert({ key: 'wrong-runner', value: '1' });
      }),
      /must use the transaction/,
    );
    assert.equal(await value('inner'), null);
    assert.equal(await value('wrong-runner'), null);
  });

  it('a raw BEGIN … COMMIT through query() owns the writer the same way', async () => {
    const qr = ds.createQueryRunner();
    await qr.query('BEGIN');
    await qr.query("INSERT INTO settings (key, value) VALUES ('raw', '1')");
    let outsideDone = false;
    const outside = ds.getRepository(Setting).insert({ key: 'raw-outside', value: '1' }).then(() => (outsideDone = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(outsideDone, false, 'waits for the raw transaction');
    await qr.query('ROLLBACK');
    await qr.release();
    await outside;
    assert.equal(await value('raw'), null);
    assert.equal(await value('raw-outside'), '1');
  });

  it('nested transactions use savepoints; an inner failure can be caught without losing the outer work', async () => {
    await db.transaction(async (m) => {
      await m.insert(Setting, { key: 'outer', value: '1' });
      await m
        .transaction(async (inner) => {
          await inner.insert(Setting, { key: 'inner-failed', value: '1' });
          throw new Error('inner');
        })
        .catch(() => undefined);
    });
    assert.equal(await value('outer'), '1');
    assert.equal(await value('inner-failed'), null);
  });
});
