import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import { Observable, Subscriber } from 'rxjs';
import { MetricsRegistry } from './metrics-registry';
import { StreamStats, StreamStatsSampler } from './stream-stats.sampler';

/** One message a second. */
export const LIVE_INTERVAL_MS = 1_000;
/**
 * A stream ends after this long and the client reconnects: the credential is checked again, so a
 * revoked key or a disabled user does not keep a stream open for days.
 */
export const LIVE_MAX_STREAM_MS = 10 * 60_000;

/** The body (`data:`) of one server-sent event of GET /api/v1/metrics/live. */
export interface LiveMetricsMessage {
  timestamp: string;
  /** Events accepted per second (all API processes, last complete second). */
  ingestRate: number;
  /** Stream entries acknowledged per second by all workers; null until known. */
  processRate: number | null;
  /** Undelivered + pending entries. */
  backlog: number;
  dlqSize: number | null;
  streamLength: number;
  pending: number;
  /** When the stream numbers were read; `stale` when the last read failed (Redis down). */
  sampledAt: string | null;
  stale: boolean;
}

export interface SseMessage {
  data: LiveMetricsMessage;
  id: string;
}

export function toLiveMessage(stats: StreamStats, now = Date.now()): LiveMetricsMessage {
  return {
    timestamp: new Date(now).toISOString(),
    ingestRate: stats.ingestRate,
    processRate: stats.processRate,
    backlog: stats.backlog,
    dlqSize: stats.dlqSize,
    streamLength: stats.length,
    pending: stats.pending,
    sampledAt: stats.sampledAt,
    stale: stats.stale,
  };
}

/**
 * Fans one sample a second out to every connected live client. The timer runs only while at least
 * one client is connected; a client that goes away unsubscribes (Nest tears the observable down
 * when the socket closes), which removes it and, for the last one, stops the timer. Open streams
 * are completed when the server starts closing, so they never hold up a graceful shutdown.
 */
@Injectable()
export class LiveMetricsHub implements OnModuleInit, OnModuleDestroy {
  private readonly subscribers = new Set<Subscriber<SseMessage>>();
  private readonly clientsGauge: Gauge;
  private timer?: NodeJS.Timeout;
  private seq = 0;
  private closing = false;

  constructor(
    private readonly sampler: StreamStatsSampler,
    metrics: MetricsRegistry,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    const hub = this;
    this.clientsGauge = new Gauge({
      name: 'eventproc_live_clients',
      help: 'Open GET /api/v1/metrics/live streams on this process',
      registers: [metrics.registry],
      collect() {
        this.set(hub.clients);
      },
    });
  }

  get clients(): number {
    return this.subscribers.size;
  }

  /** True while the one-second timer runs (some client is connected). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    // preClose runs before the server stops accepting and waits for open requests.
    if (fastify && typeof fastify.addHook === 'function') {
      fastify.addHook('preClose', (done: () => void) => {
        this.completeAll();
        done();
      });
    }
  }

  onModuleDestroy(): void {
    this.completeAll();
  }

  /** A cold observable per client: subscribe = connect, unsubscribe = disconnect. */
  stream(): Observable<SseMessage> {
    return new Observable<SseMessage>((subscriber) => {
      if (this.closing) {
        subscriber.complete();
        return undefined;
      }
      this.subscribers.add(subscriber);
      // The latest numbers at once, so a client does not stare at nothing for a second.
      subscriber.next(this.message(this.sampler.latest()));
      this.start();
      const maxAge = setTimeout(() => subscriber.complete(), LIVE_MAX_STREAM_MS);
      maxAge.unref();
      return () => {
        clearTimeout(maxAge);
        this.subscribers.delete(subscriber);
        if (this.subscribers.size === 0) this.stop();
      };
    });
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), LIVE_INTERVAL_MS);
    this.timer.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    // Wait for a fresh sample at most most of the period; otherwise send the last one (marked stale by the sampler if it failed).
    const stats = await Promise.race([
      this.sampler.sample(),
      new Promise<StreamStats>((resolve) => setTimeout(() => resolve(this.sampler.latest()), LIVE_INTERVAL_MS * 0.8).unref()),
    ]);
    if (this.subscribers.size === 0) return;
    const message = this.message(stats);
    for (const s of [...this.subscribers]) s.next(message);
  }

  private message(stats: StreamStats): SseMessage {
    return { data: toLiveMessage(stats), id: String(++this.seq) };
  }

  private completeAll(): void {
    this.closing = true;
    for (const s of [...this.subscribers]) s.complete();
    this.subscribers.clear();
    this.stop();
  }
}
