import { DRIVE_REVOKED_REASONS } from '@vicer/protocol';
import { driveRevokedMessage } from './messages';

describe('driveRevokedMessage', () => {
  it('says each reason the seat can end for in its own words, and who took over', () => {
    const texts = DRIVE_REVOKED_REASONS.map((reason) => driveRevokedMessage({ vehicleId: 'v', reason, by: { userId: 'u', name: 'Kim' } }));
    expect(new Set(texts).size).toBe(DRIVE_REVOKED_REASONS.length);
    expect(texts[DRIVE_REVOKED_REASONS.indexOf('takeover')]).toContain('Kim');
    expect(texts[DRIVE_REVOKED_REASONS.indexOf('vehicle-lost')]).toContain('vehicle');
  });
});
