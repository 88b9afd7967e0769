import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisConnections } from '../../redis/redis-connections';
import { RedisKeys } from '../../redis/redis-keys';
import { LOCAL_CACHE_MAX_ENTRIES, LOCAL_CACHE_TTL_MS } from '../auth.constants';
import { ApiKeySnapshot, UserSnapshot } from './auth-cache.types';

interface Entry<T> {
  value: T;
  freshUntil: number;
}

/**
 * In-process auth cache: most requests authenticate with zero I/O. Entries live at most
 * LOCAL_CACHE_TTL_MS counted from the start of the lookup that produced them, so even a lost
 * invalidation message cannot keep a revoked key alive beyond 1 s; messages on the auth
 * channel (dedicated subscriber connection) evict entries immediately.
 */
@Injectable()
export class LocalAuthCache implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('auth');
  private readonly apiKeys = new Map<string, Entry<ApiKeySnapshot>>();
  private readonly users = new Map<string, Entry<UserSnapshot>>();
  private subscriber?: Redis;

  constructor(
    private readonly connections: RedisConnections,
    private readonly keys: RedisKeys,
  ) {}

  async onModuleInit(): Promise<void> {
    const channel = this.keys.authInvalidationChannel();
    // Subscribers need the offline queue: ioredis re-subscribes through it after a reconnect.
    const subscriber = await this.connections.connect('auth-invalidation', { enableOfflineQueue: true, maxRetriesPerRequest: null });
    subscriber.on('message', (ch: string, message: string) => {
      if (ch === channel) this.onMessage(message);
    });
    // Messages published while disconnected are lost: start from an empty cache after a reconnect.
    subscriber.on('ready', () => this.clear());
    await subscriber.subscribe(channel);
    this.subscriber = subscriber;
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.subscriber) await this.connections.close(this.subscriber);
  }

  getApiKey(keyHash: string, now: number): ApiKeySnapshot | undefined {
    return fresh(this.apiKeys, keyHash, now);
  }

  setApiKey(keyHash: string, value: ApiKeySnapshot, lookupStartedAt: number): void {
    store(this.apiKeys, keyHash, value, lookupStartedAt);
  }

  getUser(userId: string, now: number): UserSnapshot | undefined {
    return fresh(this.users, userId, now);
  }

  setUser(value: UserSnapshot, lookupStartedAt: number): void {
    store(this.users, value.id, value, lookupStartedAt);
  }

  clear(): void {
    this.apiKeys.clear();
    this.users.clear();
  }

  /** Applies one invalidation payload (`k:<hash>` / `u:<userId>` lines). Public for tests. */
  onMessage(payload: string): void {
    for (const line of payload.split('\n')) {
      if (line.startsWith('k:')) {
        this.apiKeys.delete(line.slice(2));
      } else if (line.startsWith('u:')) {
        const userId = line.slice(2);
        this.users.delete(userId);
        for (const [hash, entry] of this.apiKeys) {
          if (entry.value.state === 'valid' && entry.value.userId === userId) this.apiKeys.delete(hash);
        }
      } else if (line.length > 0) {
        this.logger.warn({ line: line.slice(0, 80) }, 'unknown auth invalidation message');
      }
    }
  }
}

function fresh<T>(map: Map<string, Entry<T>>, key: string, now: number): T | undefined {
  const entry = map.get(key);
  if (!entry) return undefined;
  if (entry.freshUntil <= now) {
    map.delete(key);
    return undefined;
  }
  return entry.value;
}

function store<T>(map: Map<string, Entry<T>>, key: string, value: T, lookupStartedAt: number): void {
  const freshUntil = lookupStartedAt + LOCAL_CACHE_TTL_MS;
  if (freshUntil <= Date.now()) return;
  map.delete(key);
  if (map.size >= LOCAL_CACHE_MAX_ENTRIES) {
    // Oldest first (Map keeps insertion order): drop the eldest tenth in one go.
    let drop = Math.ceil(LOCAL_CACHE_MAX_ENTRIES / 10);
    for (const k of map.keys()) {
      map.delete(k);
      if (--drop === 0) break;
    }
  }
  map.set(key, { value, freshUntil });
}
