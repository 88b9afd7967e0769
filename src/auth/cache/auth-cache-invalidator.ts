import { HttpStatus, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { ApiError } from '../../common/http/api-error';
import { ErrorCode } from '../../common/http/error-codes';
import { REDIS_POSITIVE_TTL_MS } from '../auth.constants';
import { PrismaService } from '../../prisma/prisma.service';
import { postgres } from '../prisma-errors';
import { AuthCacheStore, InvalidationMessage } from './auth-cache.store';
import { LocalAuthCache } from './local-auth-cache';
import { API_KEY_STATE_SELECT, apiKeySnapshot, REVOKED_API_KEY, USER_STATE_SELECT, userSnapshot } from './snapshots';

/**
 * Port: called after PostgreSQL changed something that authentication depends on. Once it
 * returns, every API process refuses the old state within 1 s (Redis holds the new state and
 * in-process caches were told to drop theirs). When Redis cannot be updated it throws a 503 that
 * says the change is saved (the PostgreSQL change stays; a retry republishes it), and keeps
 * retrying in the background meanwhile: the stale "valid" entry Redis still holds would otherwise
 * be trusted again once Redis is back, for up to its TTL (REDIS_POSITIVE_TTL_MS).
 */
export abstract class AuthCacheInvalidator {
  abstract apiKeyRevoked(keyHash: string): Promise<void>;
  /** Role, status or password of the user changed: republish the user and all live keys. */
  abstract userChanged(userId: string): Promise<void>;
}

/** Background republication: first retry after this, doubling up to the cap, until the TTL has run out. */
const REPUBLISH_FIRST_MS = 500;
const REPUBLISH_CAP_MS = 5_000;

@Injectable()
export class RedisAuthCacheInvalidator extends AuthCacheInvalidator implements OnModuleDestroy {
  private readonly logger = new Logger('auth');
  private readonly retries = new Set<NodeJS.Timeout>();
  /** False in a one-shot process (the CLI): it exits before a background retry could run. */
  protected readonly republishesInBackground: boolean = true;

  constructor(
    private readonly prisma: PrismaService,
    private readonly store: AuthCacheStore,
    // Absent in the CLI. In an API process the change applies here at once (read-your-writes),
    // without waiting for our own pub/sub message.
    @Optional() private readonly local?: LocalAuthCache,
  ) {
    super();
  }

  onModuleDestroy(): void {
    for (const t of this.retries) clearTimeout(t);
    this.retries.clear();
  }

  async apiKeyRevoked(keyHash: string): Promise<void> {
    // This process refuses the key at once, whatever Redis does.
    this.local?.onMessage(`k:${keyHash}`);
    await this.publish('the revocation', async () => {
      await this.store.putApiKey(keyHash, REVOKED_API_KEY);
      await this.store.publish([`k:${keyHash}`]);
    });
  }

  async userChanged(userId: string): Promise<void> {
    // Read after the write: the state published is the committed one (with its new version).
    const user = await postgres(() =>
      this.prisma.user.findUnique({
        where: { id: userId },
        select: { ...USER_STATE_SELECT, apiKeys: { where: { revokedAt: null }, select: { ...API_KEY_STATE_SELECT, keyHash: true } } },
      }),
    );
    if (!user) return;
    this.local?.onMessage(`u:${userId}`);
    // Versioned writes (set-if-newer): a late retry never puts back an older state.
    await this.publish("the user's change", async () => {
      const writes: Promise<unknown>[] = [this.store.putUser(userSnapshot(user))];
      const messages: InvalidationMessage[] = [`u:${userId}`];
      for (const key of user.apiKeys) {
        writes.push(this.store.putApiKey(key.keyHash, apiKeySnapshot(key, user)));
      }
      await Promise.all(writes);
      await this.store.publish(messages);
    });
  }

  private async publish(what: string, operation: () => Promise<void>): Promise<void> {
    try {
      await operation();
    } catch (err) {
      const ttl = `cached grants expire within ${REDIS_POSITIVE_TTL_MS / 1000} s`;
      let message: string;
      if (this.republishesInBackground) {
        this.logger.warn({ err: (err as Error).message, what }, 'auth change saved but not published (Redis); retrying in the background');
        this.retryInBackground(what, operation, Date.now() + REDIS_POSITIVE_TTL_MS, REPUBLISH_FIRST_MS);
        message = `it is retried in the background and ${ttl}; repeat the request to confirm`;
      } else {
        message = `${ttl}; run the command again once Redis is back to confirm`;
      }
      throw new ApiError(
        HttpStatus.SERVICE_UNAVAILABLE,
        ErrorCode.SERVICE_UNAVAILABLE,
        `${what} is saved, but Redis is unavailable to tell every API process; ${message}`,
        undefined,
        1,
      );
    }
  }

  private retryInBackground(what: string, operation: () => Promise<void>, until: number, delayMs: number): void {
    if (Date.now() >= until) return;
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      operation().then(
        () => this.logger.log({ what }, 'auth change published after a Redis failure'),
        () => this.retryInBackground(what, operation, until, Math.min(REPUBLISH_CAP_MS, delayMs * 2)),
      );
    }, delayMs);
    timer.unref();
    this.retries.add(timer);
  }
}

/** The CLI's: nothing retries after the command returns, and its message says so. */
@Injectable()
export class OneShotAuthCacheInvalidator extends RedisAuthCacheInvalidator {
  protected override readonly republishesInBackground = false;
}
