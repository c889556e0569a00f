import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JpegSplitter } from '../../apps/vehicle/sources.js';
import { sqliteDatabase } from './helpers/databases.js';
import { vehicleAgentSuite } from './suites/vehicle-agent.suite.js';

describe('JpegSplitter', () => {
  it('cuts a byte stream into whole JPEGs whatever the chunking', () => {
    const a = Buffer.from([0xff, 0xd8, 1, 2, 0xff, 0x00, 3, 0xff, 0xd9]);
    const b = Buffer.from([0xff, 0xd8, 9, 0xff, 0xd9]);
    const stream = Buffer.concat([Buffer.from([7, 7]), a, b, a]);
    for (const size of [1, 2, 3, 5, 64]) {
      const sp = new JpegSplitter();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(...sp.push(stream.subarray(i, i + size)));
      assert.deepEqual(out, [a, b, a], `chunks of ${size}`);
    }
  });
});

vehicleAgentSuite(sqliteDatabase);
