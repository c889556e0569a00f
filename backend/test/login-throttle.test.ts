import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginThrottle } from '../src/auth/login-throttle.js';

describe('LoginThrottle', async () => {
  it('blocks after 5 failures in the window and frees the key as failures age out', async () => {
    let now = 0;
    const t = new LoginThrottle(5, 15 * 60_000, () => now);
    for (let i = 0; i < 5; i++) {
      assert.equal(await t.retryAfter('k'), 0);
      await t.fail('k');
      now += 60_000;
    }
    assert.equal(await t.retryAfter('k'), 600, 'the oldest failure (t=0) expires at 15 min; now is 5 min');
    assert.equal(await t.retryAfter('other'), 0);
    now = 15 * 60_000 + 1;
    assert.equal(await t.retryAfter('k'), 0);
  });
  it('reset clears the count', async () => {
    const t = new LoginThrottle(2, 1000, () => 0);
    await t.fail('k');
    await t.fail('k');
    assert.ok(await t.retryAfter('k') > 0);
    await t.reset('k');
    assert.equal(await t.retryAfter('k'), 0);
  });
});
