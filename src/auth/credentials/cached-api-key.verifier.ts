import { Injectable, Logger } from '@nestjs/common';
import { ApiError } from '../../common/http/api-error';
import { PrismaService } from '../../prisma/prisma.service';
import { hashApiKey, isWellFormedApiKey } from '../api-keys/api-key-secret';
import { LOCAL_CACHE_MAX_ENTRIES, RECENTLY_VALID_MS, UNKNOWN_KEY_LOOKUPS_PER_WINDOW, UNKNOWN_KEY_WINDOW_MS } from '../auth.constants';
import { AuthCacheStore } from '../cache/auth-cache.store';
import { ApiKeySnapshot } from '../cache/auth-cache.types';
import { LocalAuthCache } from '../cache/local-auth-cache';
import { API_KEY_STATE_SELECT, apiKeySnapshot, UNKNOWN_API_KEY, USER_STATE_SELECT } from '../cache/snapshots';
import type { Principal } from '../principal';
import { postgres } from '../prisma-errors';
import { FixedWindows } from '../rate-limit/fixed-windows';
import { ApiKeyUsageRecorder } from './api-key-usage.recorder';
import { ApiKeyVerifier } from './credential-verifiers';
import { RateLimitedWarning } from './redis-failure-log';

/**
 * API key check of the ingestion hot path: in-process cache (no I/O), else one Redis GET, else
 * PostgreSQL (result written back to Redis). Revoked, expired and disabled-owner keys are
 * refused; with PostgreSQL down a key cached in Redis keeps working; with Redis down keys are
 * checked against PostgreSQL. A client that has had UNKNOWN_KEY_LOOKUPS_PER_WINDOW unknown keys
 * looked up gets 429 for keys that need PostgreSQL until its window ends.
 */
@Injectable()
export class CachedApiKeyVerifier extends ApiKeyVerifier {
  private readonly logger = new Logger('auth');
  private readonly redisWarning = new RateLimitedWarning(this.logger, 'Redis unavailable for API key lookups; using PostgreSQL');
  /** Concurrent misses for one key share one lookup. */
  private readonly inflight = new Map<string, Promise<ApiKeySnapshot>>();
  /** Unknown keys looked up in PostgreSQL, per client (UNKNOWN_KEY_LOOKUPS_PER_WINDOW). */
  private readonly unknownKeys = new FixedWindows();
  /**
   * Hashes of keys last found valid within RECENTLY_VALID_MS (each sighting extends it): exempt from that budget, so a producer
   * sharing an address (NAT, a proxy) with a flood keeps its key when the key's Redis entry expires
   * or Redis is down. (Still looked up, so a revocation applies as before.)
   */
  private readonly recentlyValid = new FixedWindows(LOCAL_CACHE_MAX_ENTRIES);

  constructor(
    private readonly local: LocalAuthCache,
    private readonly store: AuthCacheStore,
    private readonly prisma: PrismaService,
    private readonly usage: ApiKeyUsageRecorder,
  ) {
    super();
  }

  async verify(apiKey: string, client?: string): Promise<Principal | null> {
    if (!isWellFormedApiKey(apiKey)) return null;
    const keyHash = hashApiKey(apiKey);
    const snapshot = this.local.getApiKey(keyHash, Date.now()) ?? (await this.load(keyHash, client));
    if (snapshot.state !== 'valid' || snapshot.status !== 'ACTIVE') return null;
    const now = Date.now();
    if (snapshot.expiresAt !== null && snapshot.expiresAt <= now) return null;
    this.usage.mark(snapshot.id, now);
    return { kind: 'apiKey', userId: snapshot.userId, role: snapshot.role, apiKeyId: snapshot.id, email: snapshot.email };
  }

  /** (Concurrent callers of one key share the first one's lookup, and its client's budget.) */
  private load(keyHash: string, client: string | undefined): Promise<ApiKeySnapshot> {
    let pending = this.inflight.get(keyHash);
    if (!pending) {
      pending = this.fetch(keyHash, client).finally(() => this.inflight.delete(keyHash));
      this.inflight.set(keyHash, pending);
    }
    return pending;
  }

  private async fetch(keyHash: string, client: string | undefined): Promise<ApiKeySnapshot> {
    const startedAt = Date.now();
    let redisUp = true;
    try {
      const cached = await this.store.getApiKey(keyHash);
      if (cached) {
        this.local.setApiKey(keyHash, cached.value, startedAt);
        if (cached.value.state === 'valid') this.recentlyValid.touch(keyHash, RECENTLY_VALID_MS, Date.now());
        return cached.value;
      }
    } catch (err) {
      redisUp = false;
      this.redisWarning.warn(err);
    }
    // Counted before the query (concurrent lookups must not all pass a count still at 0) and
    // given back when the key exists: keys seen valid lately never spend or need the budget.
    const budgeted = client !== undefined && !this.recentlyValid.has(keyHash, Date.now()) ? client : undefined;
    if (budgeted !== undefined) {
      const [lookups, leftMs] = this.unknownKeys.hit(budgeted, UNKNOWN_KEY_WINDOW_MS, Date.now());
      if (lookups > UNKNOWN_KEY_LOOKUPS_PER_WINDOW) {
        this.unknownKeys.unhit(budgeted, Date.now());
        throw ApiError.tooManyRequests('RATE_LIMITED', 'Too many unknown API keys from this address; retry later', Math.max(1, Math.ceil(leftMs / 1000)));
      }
    }
    let row;
    try {
      row = await postgres(() =>
        this.prisma.apiKey.findUnique({
          where: { keyHash },
          select: { ...API_KEY_STATE_SELECT, user: { select: USER_STATE_SELECT } },
        }),
      );
    } catch (err) {
      if (budgeted !== undefined) this.unknownKeys.unhit(budgeted, Date.now());
      throw err;
    }
    if (row && budgeted !== undefined) this.unknownKeys.unhit(budgeted, Date.now());
    const entry = row ? apiKeySnapshot(row, row.user) : UNKNOWN_API_KEY;
    if (entry.value.state === 'valid') this.recentlyValid.touch(keyHash, RECENTLY_VALID_MS, Date.now());
    if (redisUp) {
      // Off the response path; a failed write only means the next miss asks PostgreSQL again.
      this.store.putApiKey(keyHash, entry).catch((err: unknown) => this.redisWarning.warn(err));
    }
    this.local.setApiKey(keyHash, entry.value, startedAt);
    return entry.value;
  }
}
