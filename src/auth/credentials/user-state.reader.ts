import { Injectable, Logger } from '@nestjs/common';
import { PrismaService } from '../../prisma/prisma.service';
import { AuthCacheStore } from '../cache/auth-cache.store';
import { UserSnapshot } from '../cache/auth-cache.types';
import { LocalAuthCache } from '../cache/local-auth-cache';
import { USER_STATE_SELECT, userSnapshot } from '../cache/snapshots';
import { postgres } from '../prisma-errors';
import { RateLimitedWarning } from './redis-failure-log';

/**
 * Current role, status and session version of a user for JWT checks, with the same layering as API
 * keys (in-process ≤ 1 s, Redis, PostgreSQL), so disabling a user or changing a role applies to
 * tokens already issued within 1 s.
 */
@Injectable()
export class UserStateReader {
  private readonly logger = new Logger('auth');
  private readonly redisWarning = new RateLimitedWarning(this.logger, 'Redis unavailable for user lookups; using PostgreSQL');
  private readonly inflight = new Map<string, Promise<UserSnapshot | null>>();

  constructor(
    private readonly local: LocalAuthCache,
    private readonly store: AuthCacheStore,
    private readonly prisma: PrismaService,
  ) {}

  /**
   * The user, or null when it does not exist. A cached state older than `atLeastVersion` (a token
   * issued after a change this replica has not seen yet) is looked up again, not trusted.
   */
  get(userId: string, atLeastVersion = 0): Promise<UserSnapshot | null> {
    const hit = this.local.getUser(userId, Date.now());
    if (hit && hit.sessionVersion >= atLeastVersion) return Promise.resolve(hit);
    const key = `${userId}\u0000${atLeastVersion}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetch(userId, atLeastVersion).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async fetch(userId: string, atLeastVersion: number): Promise<UserSnapshot | null> {
    const startedAt = Date.now();
    let redisUp = true;
    try {
      const cached = await this.store.getUser(userId);
      // (Entries written before snapshots carried sessionVersion count as misses.)
      if (cached && typeof cached.value.sessionVersion === 'number' && cached.value.sessionVersion >= atLeastVersion) {
        this.local.setUser(cached.value, startedAt);
        return cached.value;
      }
    } catch (err) {
      redisUp = false;
      this.redisWarning.warn(err);
    }
    const row = await postgres(() => this.prisma.user.findUnique({ where: { id: userId }, select: USER_STATE_SELECT }));
    if (!row) return null;
    const entry = userSnapshot(row);
    if (redisUp) this.store.putUser(entry).catch((err: unknown) => this.redisWarning.warn(err));
    this.local.setUser(entry.value, startedAt);
    return entry.value;
  }
}
