import { Injectable, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../config/app-config';

/** Route option (`@RouteConfig`) that puts a route behind the gate. */
export interface AdmissionRouteConfig {
  admission?: boolean;
}

/**
 * At most `limit` requests of the gated routes are past `onRequest` at a time; the others wait
 * there, before their body is read. A waiting request's body stays in the socket (Node pauses
 * it after its high-water mark) instead of the heap: under load, 50 connections posting
 * 1,000-event batches otherwise hold 50 parsed bodies, their stream entries and script
 * arguments at once, and the garbage that survives while requests wait for the CPU is promoted
 * and grows the heap. The API is bound by one core, so a few requests in flight keep it busy
 * (the rest only wait inside it); the order is first come, first served. Measured here with
 * 1,000-event batches at 50 connections (2 runs each, 2026-12-01): RSS after the step 329/338 MB
 * with 8 admitted vs 344/510 MB with no gate, 58.5k/54.9k vs 51.6k/53.7k events/s.
 */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Resolves with a release function (idempotent) once a permit is free. */
  acquire(): Promise<() => void> | (() => void) {
    if (this.active < this.limit) {
      this.active += 1;
      return this.releaser();
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(this.releaser())));
  }

  get inUse(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      // The permit passes straight to the next waiter: `active` stays the same.
      if (next) next();
      else this.active -= 1;
    };
  }
}

/** Registers the gate for routes with `@RouteConfig({ admission: true })` (the batch endpoint). */
@Injectable()
export class AdmissionGate implements OnModuleInit {
  readonly semaphore: Semaphore;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    config: AppConfig,
  ) {
    this.semaphore = new Semaphore(config.INGEST_BATCH_CONCURRENCY);
  }

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify || typeof fastify.addHook !== 'function') return;
    fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!(request.routeOptions.config as AdmissionRouteConfig | undefined)?.admission) return;
      const release = await this.semaphore.acquire();
      // 'close' fires once the response is sent and also when the client goes away first.
      reply.raw.once('close', release);
      if (reply.raw.destroyed) release();
    });
  }
}
