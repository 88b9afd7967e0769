import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config';

/** No reply for this long while commands wait: the socket is dead (far above any command we send). */
export const SOCKET_TIMEOUT_MS = 5_000;

/**
 * Creates and owns every ioredis connection of the process. Blocking reads (XREADGROUP BLOCK)
 * and pub/sub each need a connection of their own; all are closed on shutdown.
 */
@Injectable()
export class RedisConnections implements OnApplicationShutdown {
  private readonly logger = new Logger('redis');
  private readonly clients = new Set<Redis>();

  constructor(private readonly config: AppConfig) {}

  /**
   * Connects and resolves once the server answers; rejects fast if it does not (boot fails).
   * Defaults favour the request path: no offline queue (a request while Redis is down fails at
   * once, so the API answers 503 instead of waiting) and a bounded command time. A command that
   * timed out stays queued in the client, arguments and all, until its reply comes: while Redis
   * hangs (paused, blackholed network) rather than refusing, every request would add to that queue
   * (up to 5 MiB each) for as long as TCP keeps the socket. So a socket that has not answered for
   * SOCKET_TIMEOUT_MS is dropped: its queue fails at once and the client reconnects.
   */
  async connect(name: string, overrides: RedisOptions = {}): Promise<Redis> {
    const client = new Redis(this.config.REDIS_URL, {
      connectionName: `evp:${name}`,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 2_000,
      socketTimeout: SOCKET_TIMEOUT_MS,
      connectTimeout: 2_000,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1_000),
      ...overrides,
    });
    let lastError = '';
    client.on('error', (err: Error) => {
      // ioredis emits an error per failed reconnect; log each distinct one once.
      if (err.message !== lastError) this.logger.warn({ connection: name, err: err.message }, 'redis connection error');
      lastError = err.message;
    });
    client.on('ready', () => {
      if (lastError) this.logger.log({ connection: name }, 'redis connection restored');
      lastError = '';
    });
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw new Error(`Redis (REDIS_URL) is unreachable: ${(err as Error).message}`);
    }
    this.clients.add(client);
    return client;
  }

  async close(client: Redis): Promise<void> {
    this.clients.delete(client);
    await client.quit().catch(() => client.disconnect());
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.clients].map((c) => this.close(c)));
  }
}
