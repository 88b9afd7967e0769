import type { PrismaService } from '../../prisma/prisma.service';
import type { RedisConnections } from '../../redis/redis-connections';
import { RedisKeys } from '../../redis/redis-keys';
import type { AuthCacheStore } from '../cache/auth-cache.store';
import type { UserSnapshot, Versioned } from '../cache/auth-cache.types';
import { LocalAuthCache } from '../cache/local-auth-cache';
import { userSnapshot } from '../cache/snapshots';
import { UserStateReader } from './user-state.reader';

const ID = '0b7c1d2e-0000-4000-8000-000000000001';
const row = (sessionVersion: number) => ({ id: ID, email: 'u@x', name: 'U', role: 'VIEWER' as const, status: 'ACTIVE' as const, authVersion: sessionVersion, sessionVersion });

/**
 * A token issued after a password reset or status change carries a session version this replica
 * may not have seen yet (its in-process entry lives up to 1 s): such a state is looked up again.
 */
describe('UserStateReader', () => {
  let local: LocalAuthCache;
  let redisEntry: Versioned<UserSnapshot> | undefined;
  let pgRow: ReturnType<typeof row>;
  let redisReads: number;
  let pgReads: number;
  let reader: UserStateReader;

  beforeEach(() => {
    local = new LocalAuthCache({} as RedisConnections, new RedisKeys('s', 1));
    redisReads = 0;
    pgReads = 0;
    const store = {
      getUser: async () => {
        redisReads += 1;
        return redisEntry;
      },
      putUser: async () => true,
    } as unknown as AuthCacheStore;
    const prisma = {
      user: {
        findUnique: async () => {
          pgReads += 1;
          return pgRow;
        },
      },
    } as unknown as PrismaService;
    reader = new UserStateReader(local, store, prisma);
  });

  it('answers from the in-process entry when it is as new as the token', async () => {
    local.setUser(userSnapshot(row(2)).value, Date.now());
    expect((await reader.get(ID, 2))?.sessionVersion).toBe(2);
    expect(redisReads + pgReads).toBe(0);
  });

  it('looks past an older in-process entry to Redis', async () => {
    local.setUser(userSnapshot(row(0)).value, Date.now());
    redisEntry = userSnapshot(row(1));
    expect((await reader.get(ID, 1))?.sessionVersion).toBe(1);
    expect([redisReads, pgReads]).toEqual([1, 0]);
  });

  it('goes to PostgreSQL when Redis is older too', async () => {
    local.setUser(userSnapshot(row(0)).value, Date.now());
    redisEntry = userSnapshot(row(0));
    pgRow = row(1);
    expect((await reader.get(ID, 1))?.sessionVersion).toBe(1);
    expect([redisReads, pgReads]).toEqual([1, 1]);
  });

  it('takes a Redis entry written before snapshots carried a session version for a miss', async () => {
    const { sessionVersion: _dropped, ...legacy } = userSnapshot(row(3)).value;
    redisEntry = { version: 4, value: legacy as UserSnapshot };
    pgRow = row(3);
    expect((await reader.get(ID, 0))?.sessionVersion).toBe(3);
    expect([redisReads, pgReads]).toEqual([1, 1]);
  });

  it('returns the current state even when it is older than the token claims (the caller refuses it)', async () => {
    redisEntry = undefined;
    pgRow = row(0);
    expect((await reader.get(ID, 5))?.sessionVersion).toBe(0);
  });
});
