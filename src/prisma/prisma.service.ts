import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { AppConfig } from '../config/app-config';
import { PrismaClient } from '../generated/prisma/client';

/** Longest a query may wait for its answer (client side); the server cancels a statement 1 s earlier. */
export const PG_QUERY_TIMEOUT_MS = 5_000;

/**
 * The PostgreSQL client (users, API keys). Prisma 7 with the pg driver adapter: no query engine
 * binary. Boot fails fast when the database is unreachable; the pool is closed on shutdown.
 */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('prisma');

  constructor(config: AppConfig) {
    super({
      adapter: new PrismaPg({
        connectionString: config.DATABASE_URL,
        // pg waits forever for a connection by default; a request must fail fast with 503 instead.
        connectionTimeoutMillis: 2_000,
        // And for an answer: a server that stops answering on an open connection (paused, a
        // silent network drop) held each query, then the whole pool, for ever. Our queries are
        // single-row lookups and small writes, milliseconds each.
        query_timeout: PG_QUERY_TIMEOUT_MS,
        statement_timeout: PG_QUERY_TIMEOUT_MS - 1_000,
        max: 10,
      }),
    });
  }

  async onModuleInit(): Promise<void> {
    try {
      await this.$queryRawUnsafe('SELECT 1');
    } catch (err) {
      // Prisma's messages start with a newline; keep the first line that says something.
      const reason = (err as Error).message.split('\n').map((l) => l.trim()).find(Boolean) ?? 'no answer';
      throw new Error(`PostgreSQL (DATABASE_URL) is unreachable: ${reason}`);
    }
    this.logger.log('connected to PostgreSQL');
  }

  // Closed last (after consumers drained in beforeApplicationShutdown).
  async onApplicationShutdown(): Promise<void> {
    await this.$disconnect();
  }
}
