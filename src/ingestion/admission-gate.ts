import { Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyVerifier } from '../auth/credentials/credential-verifiers';
import { apiKeyFrom, clientOf } from '../auth/guards/credentials';
import { ApiError } from '../common/http/api-error';
import { AppConfig } from '../config/app-config';
import { IngestionMetrics } from '../metrics/metrics.ports';
import { BACKPRESSURE_RETRY_AFTER_SECONDS } from './ingestion.service';

/** Route option (`@RouteConfig`, or `config` of a Fastify route) that puts a route behind the gate. */
export interface AdmissionRouteConfig {
  admission?: boolean;
}

/**
 * A budget of bytes shared first come, first served. A request weighs its body size; it is let
 * through when it fits in what is left, or when nothing else holds any of the budget (so a body
 * larger than the whole budget is still served, alone). Releases are idempotent.
 */
export class ByteBudget {
  private used = 0;
  private holders = 0;
  private readonly waiting: Array<{ bytes: number; admit: () => void }> = [];

  constructor(readonly limit: number) {}

  /**
   * Resolves with a release function; the bytes are taken at once when they fit now. With
   * `maxWaitMs`, resolves with null instead when they were not taken in that time (and gives up
   * its place in the queue).
   */
  acquire(bytes: number): Promise<() => void>;
  acquire(bytes: number, maxWaitMs: number): Promise<(() => void) | null>;
  acquire(bytes: number, maxWaitMs?: number): Promise<(() => void) | null> {
    if (this.waiting.length === 0 && this.fits(bytes)) return Promise.resolve(this.take(bytes));
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        bytes,
        admit: () => {
          if (timer) clearTimeout(timer);
          resolve(this.take(bytes));
        },
      };
      this.waiting.push(waiter);
      if (maxWaitMs === undefined) return;
      timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(null);
        // It may have been the head that blocked the others: let in those that fit now.
        this.admitFitting();
      }, maxWaitMs);
      timer.unref();
    });
  }

  get inUse(): number {
    return this.used;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private fits(bytes: number): boolean {
    return this.holders === 0 || this.used + bytes <= this.limit;
  }

  private take(bytes: number): () => void {
    this.used += bytes;
    this.holders += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.used -= bytes;
      this.holders -= 1;
      this.admitFitting();
    };
  }

  /** Strict arrival order: a large body at the head is not overtaken by small ones behind it. */
  private admitFitting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting[0].bytes)) this.waiting.shift()!.admit();
  }
}

/**
 * Bounds the bytes of batch bodies one API process works on at once (INGEST_INFLIGHT_BODY_BYTES).
 * A request past the budget waits in `onRequest`, before its body is read: the body stays in the
 * socket (Node pauses it at its high-water mark) instead of the heap. Without it, 50 connections
 * posting 1,000-event batches hold 50 parsed bodies, their stream entries and script arguments
 * at once; they wait for the one busy core long enough to be promoted, and the old generation
 * grows. Measured 2026-12-01 (50 connections, 456 KB bodies, 20 s; one run each): RSS 616 MB with
 * no gate, 476 MB with 8 MiB, 355 MB with 4 MiB (the default: ~9 such bodies), 312 MB with 1 MiB
 * but 14% fewer events/s; 85–93k events/s otherwise alike. The budget is in bytes, not requests: a
 * count that bounds large batches (an earlier gate of 8 requests, reverted in 420ba1e) starves
 * small ones, which need many in flight to keep the core busy. A body's weight is its
 * Content-Length, or the route's body limit when it is chunked (unknown in advance).
 *
 * A request admitted holds its bytes until its response is sent or its client goes away; one whose
 * body does not arrive within HTTP_REQUEST_TIMEOUT_MS is answered 408 by Node and let go. A request
 * that waits half of HTTP_REQUEST_TIMEOUT_MS without being admitted is answered 429 BACKPRESSURE
 * with Retry-After (nothing of it was read or stored), so a client never hangs behind the gate.
 *
 * Only requests with a valid API key take part (the cached check ApiKeyGuard repeats later): a
 * client without one, sending a large Content-Length and trickling its body, could otherwise hold
 * the budget until HTTP_REQUEST_TIMEOUT_MS and stall every batch. Such requests pass ungated, and
 * ApiKeyGuard refuses them as before; an outage of the key check also passes, for the guard's 503.
 */
@Injectable()
export class AdmissionGate implements OnModuleInit {
  readonly budget: ByteBudget;
  /** Longest wait for admission: half the request timeout, so the answer is ours, not Node's 408. */
  readonly maxWaitMs: number;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly apiKeys: ApiKeyVerifier,
    config: AppConfig,
    @Optional() private readonly metrics?: IngestionMetrics,
  ) {
    this.budget = new ByteBudget(config.INGEST_INFLIGHT_BODY_BYTES);
    this.maxWaitMs = Math.floor(config.HTTP_REQUEST_TIMEOUT_MS / 2);
  }

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify || typeof fastify.addHook !== 'function') return;
    fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      if (!(request.routeOptions.config as AdmissionRouteConfig | undefined)?.admission) return done();
      const declared = Number(request.headers['content-length']);
      const bytes = Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, request.routeOptions.bodyLimit) : request.routeOptions.bodyLimit;
      const hold = (release: (() => void) | null): void => {
        if (release === null) {
          this.metrics?.backpressure();
          return done(waitedTooLong());
        }
        // 'close' fires once the response is sent and also when the client goes away first.
        reply.raw.once('close', release);
        if (reply.raw.destroyed) release();
        done();
      };
      void this.hasValidKey(request).then((valid) => (valid ? this.budget.acquire(bytes, this.maxWaitMs).then(hold) : done()));
    });
  }

  private async hasValidKey(request: FastifyRequest): Promise<boolean> {
    const key = apiKeyFrom(request.headers);
    if (!key) return false;
    try {
      return (await this.apiKeys.verify(key, clientOf(request))) !== null;
    } catch {
      return false;
    }
  }
}

const waitedTooLong = (): ApiError =>
  ApiError.tooManyRequests(
    'BACKPRESSURE',
    'This API process is at its limit of batch bodies in flight (INGEST_INFLIGHT_BODY_BYTES); nothing was accepted, retry later',
    BACKPRESSURE_RETRY_AFTER_SECONDS,
  );
