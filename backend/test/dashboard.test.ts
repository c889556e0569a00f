import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { combine, quantile, type DashboardPart } from '../src/dashboard/dashboard.service.js';
import { sqliteDatabase } from './helpers/databases.js';
import { dashboardSuite } from './suites/dashboard.suite.js';

const part = (p: Partial<DashboardPart>): DashboardPart => ({ vehicles: 0, drivers: 0, viewers: 0, frames: 0, controls: 0, dropped: 0, seconds: 2, rtts: [], ...p });

describe('dashboard: combining instances', () => {
  it('sums counts, turns deltas into rates per instance, and takes percentiles over every round trip', () => {
    const s = combine(1000, [part({ vehicles: 2, drivers: 1, viewers: 5, frames: 120, controls: 40, dropped: 3, rtts: [5, 1, 3] }), part({ vehicles: 1, viewers: 2, frames: 30, seconds: 1, rtts: [2, 4] })]);
    assert.deepEqual(s, { at: 1000, vehiclesOnline: 3, drivers: 1, viewers: 7, framesPerSec: 90, controlsPerSec: 20, droppedPerSec: 1.5, rttP50Ms: 3, rttP99Ms: 4.96, instances: 2 });
  });
  it('has no percentile when nobody drove, and no rate from an instance that just started', () => {
    const s = combine(1, [part({ frames: 10, seconds: 0 })]);
    assert.equal(s.rttP50Ms, null);
    assert.equal(s.framesPerSec, 0);
    assert.equal(combine(1, []).instances, 0);
  });
  it('interpolates quantiles between ranks', () => {
    assert.equal(quantile([10], 0.99), 10);
    assert.equal(quantile([0, 10], 0.5), 5);
    assert.equal(quantile([1, 2, 3, 4, 5], 0.5), 3);
  });
});

dashboardSuite(sqliteDatabase);
