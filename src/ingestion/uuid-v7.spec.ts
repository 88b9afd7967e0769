import { validate, version } from 'uuid';
import { uuidv7 } from './uuid-v7';

describe('uuidv7', () => {
  it('is a valid RFC 9562 version 7 UUID whose first 48 bits are the Unix ms time', () => {
    const now = Date.UTC(2025, 5, 1, 12, 34, 56, 789);
    const id = uuidv7(now);
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(7);
    expect(id[19]).toMatch(/[89ab]/); // variant 10
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(now);
  });

  it('is unique and sorts by time across milliseconds', () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => uuidv7(1_700_000_000_000 + Math.floor(i / 10)));
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 10; i < ids.length; i += 10) expect(ids[i] > ids[i - 1]).toBe(true);
  });

  it('handles the largest 48-bit timestamp', () => {
    expect(uuidv7(2 ** 48 - 1).slice(0, 13)).toBe('ffffffff-ffff');
  });
});
