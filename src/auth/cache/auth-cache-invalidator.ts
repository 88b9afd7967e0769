import { Injectable, Optional } from '@nestjs/common';
import { DependencyUnavailableError } from '../../common/http/api-error';
import { PrismaService } from '../../prisma/prisma.service';
import { postgres } from '../prisma-errors';
import { AuthCacheStore, InvalidationMessage } from './auth-cache.store';
import { LocalAuthCache } from './local-auth-cache';
import { API_KEY_STATE_SELECT, apiKeySnapshot, REVOKED_API_KEY, USER_STATE_SELECT, userSnapshot } from './snapshots';

/**
 * Port: called after PostgreSQL changed something that authentication depends on. Once it
 * returns, every API process refuses the old state within 1 s (Redis holds the new state and
 * in-process caches were told to drop theirs). It throws when Redis cannot be updated, so the
 * caller can report failure and the operator retry (the PostgreSQL change stays; retrying
 * republishes it).
 */
export abstract class AuthCacheInvalidator {
  abstract apiKeyRevoked(keyHash: string): Promise<void>;
  /** Role, status or password of the user changed: republish the user and all live keys. */
  abstract userChanged(userId: string): Promise<void>;
}

@Injectable()
export class RedisAuthCacheInvalidator extends AuthCacheInvalidator {
  constructor(
    private readonly prisma: PrismaService,
    private readonly store: AuthCacheStore,
    // Absent in the CLI. In an API process the change applies here at once (read-your-writes),
    // without waiting for our own pub/sub message.
    @Optional() private readonly local?: LocalAuthCache,
  ) {
    super();
  }

  async apiKeyRevoked(keyHash: string): Promise<void> {
    await this.redis(async () => {
      await this.store.putApiKey(keyHash, REVOKED_API_KEY);
      await this.store.publish([`k:${keyHash}`]);
    });
    this.local?.onMessage(`k:${keyHash}`);
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
    await this.redis(async () => {
      const writes: Promise<unknown>[] = [this.store.putUser(userSnapshot(user))];
      const messages: InvalidationMessage[] = [`u:${userId}`];
      for (const key of user.apiKeys) {
        writes.push(this.store.putApiKey(key.keyHash, apiKeySnapshot(key, user)));
      }
      await Promise.all(writes);
      await this.store.publish(messages);
    });
    this.local?.onMessage(`u:${userId}`);
  }

  private async redis(operation: () => Promise<void>): Promise<void> {
    try {
      await operation();
    } catch (err) {
      throw new DependencyUnavailableError('Redis', err);
    }
  }
}
