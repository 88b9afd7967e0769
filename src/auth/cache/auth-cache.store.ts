import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisKeys } from '../../redis/redis-keys';
import { REDIS_CLIENT } from '../../redis/redis.tokens';
import { RedisScript } from '../redis-script';
import { REDIS_NEGATIVE_TTL_MS, REDIS_POSITIVE_TTL_MS, REDIS_REVOKED_TTL_MS } from '../auth.constants';
import { ApiKeySnapshot, UserSnapshot, VERSION_REVOKED, VERSION_UNKNOWN, Versioned } from './auth-cache.types';

/**
 * SET unless the entry already holds an equal or higher version. Writers are request handlers
 * filling a miss from PostgreSQL and admin operations publishing a change; without the version a
 * slow reader could put back a key that was revoked (or a user that was disabled) meanwhile.
 */
const SET_IF_NEWER = new RedisScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local v = sep and tonumber(string.sub(cur, 1, sep - 1))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1`);

/** Invalidation messages on the auth channel: `k:<keyHash>` or `u:<userId>`. */
export type InvalidationMessage = `k:${string}` | `u:${string}`;

/** The Redis side of the auth cache: versioned entries and the invalidation channel. */
@Injectable()
export class AuthCacheStore {
  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async getApiKey(keyHash: string): Promise<Versioned<ApiKeySnapshot> | undefined> {
    return decode<ApiKeySnapshot>(await this.redis.get(this.keys.authApiKey(keyHash)));
  }

  async getUser(userId: string): Promise<Versioned<UserSnapshot> | undefined> {
    return decode<UserSnapshot>(await this.redis.get(this.keys.authUser(userId)));
  }

  putApiKey(keyHash: string, entry: Versioned<ApiKeySnapshot>): Promise<boolean> {
    const ttl = entry.version === VERSION_UNKNOWN ? REDIS_NEGATIVE_TTL_MS : entry.version === VERSION_REVOKED ? REDIS_REVOKED_TTL_MS : REDIS_POSITIVE_TTL_MS;
    return this.setIfNewer(this.keys.authApiKey(keyHash), entry, ttl);
  }

  putUser(entry: Versioned<UserSnapshot>): Promise<boolean> {
    return this.setIfNewer(this.keys.authUser(entry.value.id), entry, REDIS_POSITIVE_TTL_MS);
  }

  async publish(messages: InvalidationMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const channel = this.keys.authInvalidationChannel();
    // One message per line keeps a user with many keys to one PUBLISH.
    await this.redis.publish(channel, messages.join('\n'));
  }

  private async setIfNewer(key: string, entry: Versioned<unknown>, ttlMs: number): Promise<boolean> {
    return (await SET_IF_NEWER.run(this.redis, [key], [entry.version, JSON.stringify(entry.value), ttlMs])) === 1;
  }
}

function decode<T>(raw: string | null): Versioned<T> | undefined {
  if (raw === null) return undefined;
  const sep = raw.indexOf('|');
  const version = Number(raw.slice(0, sep));
  if (sep < 1 || !Number.isFinite(version)) return undefined;
  try {
    return { version, value: JSON.parse(raw.slice(sep + 1)) as T };
  } catch {
    return undefined;
  }
}
