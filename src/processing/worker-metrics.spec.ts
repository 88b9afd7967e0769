import { LatencyHistogram, WorkerMetrics } from './worker-metrics';

describe('LatencyHistogram', () => {
  it('is cumulative like a Prometheus histogram', () => {
    const h = new LatencyHistogram([10, 100]);
    for (const v of [1, 10, 11, 500]) h.observe(v);
    expect(h.snapshot()).toEqual({
      buckets: [
        { le: 10, count: 2 },
        { le: 100, count: 3 },
        { le: Infinity, count: 4 },
      ],
      count: 4,
      sum: 522,
    });
  });
});

describe('WorkerMetrics', () => {
  it('exposes plain numbers for an exporter', () => {
    const m = new WorkerMetrics();
    m.processed += 3;
    m.dlq += 1;
    m.batchLatency.observe(42);
    const s = m.snapshot();
    expect(s.processed).toBe(3);
    expect(s.dlq).toBe(1);
    expect(s.batchLatencyMs.count).toBe(1);
  });
});
