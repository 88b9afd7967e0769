import { RETENTION_SECONDS } from './rollups/rollup-granularity';
import { bucketsOf, MAX_POINTS, planIntervalWindow, planMetricsWindow, tile } from './time-window';

const NOW = Date.UTC(2026, 10, 27, 13, 37, 25) / 1000;

describe('planMetricsWindow', () => {
  it.each([
    ['15m', 15 * 60, 60, 'm'],
    ['1h', 3_600, 60, 'm'],
    ['24h', 86_400, 600, 'm'],
    ['7d', 7 * 86_400, 3_600, 'h'],
    ['30d', 30 * 86_400, 86_400, 'd'],
    ['400d', 400 * 86_400, 172_800, 'd'],
  ])('%s → finest width with at most ~200 points', (_, span, width, g) => {
    const w = planMetricsWindow(NOW - span, NOW, NOW);
    expect(w.width).toBe(width);
    expect(w.g).toBe(g);
    expect(w.start % width).toBe(0);
    expect(w.end % width).toBe(0);
    expect(w.start).toBeLessThanOrEqual(NOW - span);
    expect(w.end).toBeGreaterThanOrEqual(NOW);
    expect((w.end - w.start) / width).toBeLessThanOrEqual(MAX_POINTS + 1);
  });

  it('answers a short range older than minute retention at hour width instead of with zeros', () => {
    const from = NOW - RETENTION_SECONDS.m - 7_200;
    const w = planMetricsWindow(from, from + 900, NOW);
    expect(w.g).toBe('h');
    expect(w.width).toBe(3_600);
  });

  it('keeps an aligned range unchanged', () => {
    const from = Math.floor(NOW / 3_600) * 3_600 - 3_600;
    expect(planMetricsWindow(from, from + 3_600, NOW)).toEqual({ start: from, end: from + 3_600, width: 60, g: 'm' });
  });
});

describe('planIntervalWindow', () => {
  it('aligns outward to the interval', () => {
    expect(planIntervalWindow(NOW - 5_000, NOW, 'h', NOW)).toEqual({
      start: Math.floor((NOW - 5_000) / 3_600) * 3_600,
      end: Math.ceil(NOW / 3_600) * 3_600,
      width: 3_600,
      g: 'h',
    });
  });
  it('is undefined when the granularity is no longer kept for the start', () => {
    expect(planIntervalWindow(NOW - RETENTION_SECONDS.m - 3_600, NOW, 'm', NOW)).toBeUndefined();
  });
});

describe('tile', () => {
  it('covers the window exactly with the coarsest retained buckets', () => {
    const day = Math.floor(NOW / 86_400) * 86_400;
    const start = day - 2 * 86_400 - 3_600 - 120; // 2 days, 1 hour and 2 minutes before midnight today
    const end = day + 3_600 + 60;
    const pieces = tile({ start, end }, NOW);
    let t = start;
    for (const p of pieces) {
      expect(p.bucket).toBe(t);
      t += { m: 60, h: 3_600, d: 86_400 }[p.g];
    }
    expect(t).toBe(end);
    expect(pieces.filter((p) => p.g === 'd')).toHaveLength(2);
    expect(pieces.filter((p) => p.g === 'h')).toHaveLength(2);
    expect(pieces.filter((p) => p.g === 'm')).toHaveLength(3);
  });

  it('never uses hour buckets past hour retention', () => {
    const start = Math.floor((NOW - RETENTION_SECONDS.h - 5 * 86_400) / 86_400) * 86_400 + 3_600 * 0;
    const pieces = tile({ start, end: start + 3 * 86_400 }, NOW);
    expect(pieces.every((p) => p.g === 'd')).toBe(true);
  });
});

describe('bucketsOf', () => {
  it('lists every bucket start of the granularity', () => {
    expect(bucketsOf({ start: 3_600, end: 3_600 + 180, g: 'm' })).toEqual([3_600, 3_660, 3_720]);
  });
});
