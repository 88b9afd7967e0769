import { Inject, Injectable, Optional } from '@nestjs/common';
import { APP_ROLE, AppRole } from '../config/app-role';
import { LiveMetricsHub } from './live-metrics.hub';
import { JsonMetric, metricsToJson } from './metrics-json';
import { MetricsRegistry } from './metrics-registry';
import { StreamStats, StreamStatsSampler } from './stream-stats.sampler';

/** `GET /api/v1/metrics`: what /metrics says, as JSON for people, plus the sampled stream view. */
export interface MetricsSnapshot {
  timestamp: string;
  role: AppRole;
  uptimeSeconds: number;
  /** Cluster-wide (Redis, DLQ on shard 0), sampled in the background; the same for every process. */
  stream: StreamStats;
  live: { clients: number; running: boolean };
  /** This process's counters, gauges and histograms (count/sum), by Prometheus name. */
  metrics: Record<string, JsonMetric>;
}

@Injectable()
export class MetricsSnapshotService {
  constructor(
    private readonly registry: MetricsRegistry,
    private readonly sampler: StreamStatsSampler,
    @Inject(APP_ROLE) private readonly role: AppRole,
    @Optional() private readonly hub?: LiveMetricsHub,
  ) {}

  async snapshot(): Promise<MetricsSnapshot> {
    const metrics = metricsToJson(await this.registry.registry.getMetricsAsJSON());
    return {
      timestamp: new Date().toISOString(),
      role: this.role,
      uptimeSeconds: Math.round(process.uptime()),
      stream: this.sampler.latest(),
      live: { clients: this.hub?.clients ?? 0, running: this.hub?.running ?? false },
      metrics,
    };
  }
}
