import { LocalAuthCache } from './local-auth-cache';
import type { ApiKeySnapshot, UserSnapshot } from './auth-cache.types';
import type { RedisConnections } from '../../redis/redis-connections';
import { RedisKeys } from '../../redis/redis-keys';

const key = (userId: string): ApiKeySnapshot => ({
  state: 'valid',
  id: `key-of-${userId}`,
  userId,
  email: `${userId}@x`,
  role: 'VIEWER',
  status: 'ACTIVE',
  expiresAt: null,
});
const user = (id: string): UserSnapshot => ({ id, email: `${id}@x`, name: id, role: 'VIEWER', status: 'ACTIVE', sessionVersion: 0 });

describe('LocalAuthCache', () => {
  // The subscriber is not started (no onModuleInit): these tests cover the cache rules only.
  const cache = () => new LocalAuthCache({} as RedisConnections, new RedisKeys('s', 1));

  it('keeps an entry for at most 1 s counted from the start of the lookup that produced it', () => {
    const c = cache();
    const started = Date.now();
    c.setApiKey('h1', key('u1'), started);
    expect(c.getApiKey('h1', started + 999)).toEqual(key('u1'));
    expect(c.getApiKey('h1', started + 1000)).toBeUndefined();
    // A lookup that took longer than the TTL is not cached at all.
    c.setApiKey('h2', key('u2'), Date.now() - 1500);
    expect(c.getApiKey('h2', Date.now())).toBeUndefined();
  });

  it('drops a key on `k:<hash>` and a user with all their keys on `u:<id>`', () => {
    const c = cache();
    const now = Date.now();
    c.setApiKey('a', key('u1'), now);
    c.setApiKey('b', key('u1'), now);
    c.setApiKey('c', key('u2'), now);
    c.setUser(user('u1'), now);
    c.setUser(user('u2'), now);
    c.onMessage('k:c');
    expect(c.getApiKey('c', now)).toBeUndefined();
    expect(c.getApiKey('a', now)).toBeDefined();
    c.onMessage('u:u1\nk:unrelated');
    expect(c.getApiKey('a', now)).toBeUndefined();
    expect(c.getApiKey('b', now)).toBeUndefined();
    expect(c.getUser('u1', now)).toBeUndefined();
    expect(c.getUser('u2', now)).toEqual(user('u2'));
  });
});
