import type { MetricObjectWithValues, MetricValue } from 'prom-client';

type Labels = Record<string, string | number>;

/** One metric for people: a number, or one entry per label set (histograms: count and sum). */
export type JsonMetric = number | Array<{ labels: Labels; value: number }> | Array<{ labels: Labels; count: number; sum: number }>;

/** Default process metrics worth showing in the JSON view (the full set is on /metrics). */
export const PROCESS_METRICS = [
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
  'process_start_time_seconds',
  'nodejs_heap_size_used_bytes',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_active_handles_total',
];

/**
 * The registry's `eventproc_*` metrics (and PROCESS_METRICS) as plain JSON: exactly the numbers
 * of the Prometheus text, reshaped. Histogram buckets are left out (count and sum stay).
 */
export function metricsToJson(metrics: MetricObjectWithValues<MetricValue<string>>[]): Record<string, JsonMetric> {
  const out: Record<string, JsonMetric> = {};
  for (const m of [...metrics].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!m.name.startsWith('eventproc_') && !PROCESS_METRICS.includes(m.name)) continue;
    const values = m.values as Array<{ value: number; labels: Labels; metricName?: string }>;
    if (String(m.type) === 'histogram') {
      const series = new Map<string, { labels: Labels; count: number; sum: number }>();
      for (const v of values) {
        const { le: _le, ...labels } = v.labels;
        const key = JSON.stringify(labels);
        const entry = series.get(key) ?? { labels, count: 0, sum: 0 };
        if (v.metricName === `${m.name}_count`) entry.count = v.value;
        else if (v.metricName === `${m.name}_sum`) entry.sum = v.value;
        series.set(key, entry);
      }
      out[m.name] = [...series.values()];
    } else if (values.length === 1 && Object.keys(values[0].labels).length === 0) {
      out[m.name] = values[0].value;
    } else {
      out[m.name] = values.map((v) => ({ labels: v.labels, value: v.value }));
    }
  }
  return out;
}
