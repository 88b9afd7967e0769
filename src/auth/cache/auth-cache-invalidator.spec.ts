import { Logger } from '@nestjs/common';
import { ApiError } from '../../common/http/api-error';
import type { PrismaService } from '../../prisma/prisma.service';
import { REDIS_POSITIVE_TTL_MS } from '../auth.constants';
import { OneShotAuthCacheInvalidator, RedisAuthCacheInvalidator } from './auth-cache-invalidator';
import type { AuthCacheStore } from './auth-cache.store';
import type { LocalAuthCache } from './local-auth-cache';

/** Revocation while Redis cannot be written: the answer, and the republication in the background. */
describe('RedisAuthCacheInvalidator', () => {
  let failures: number;
  let published: string[];
  let evicted: string[];
  let invalidator: RedisAuthCacheInvalidator;

  beforeAll(() => Logger.overrideLogger(false));
  beforeEach(() => {
    jest.useFakeTimers({ now: 0 });
    failures = 0;
    published = [];
    evicted = [];
    const store = {
      putApiKey: async () => {
        if (failures > 0) {
          failures -= 1;
          throw new Error('Connection is closed.');
        }
        return true;
      },
      publish: async (messages: string[]) => void published.push(...messages),
    } as unknown as AuthCacheStore;
    const local = { onMessage: (m: string) => void evicted.push(m) } as unknown as LocalAuthCache;
    invalidator = new RedisAuthCacheInvalidator({} as PrismaService, store, local);
  });
  afterEach(() => {
    invalidator.onModuleDestroy();
    jest.useRealTimers();
  });

  it('publishes a revocation and evicts it locally', async () => {
    await invalidator.apiKeyRevoked('h1');
    expect(published).toEqual(['k:h1']);
    expect(evicted).toEqual(['k:h1']);
  });

  it('with Redis down: a 503 that says the change is saved, and republication in the background until Redis takes it', async () => {
    failures = 4;
    const err = (await invalidator.apiKeyRevoked('h2').catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.getStatus()).toBe(503);
    expect(err.retryAfterSeconds).toBe(1);
    const { error } = err.getResponse() as { error: { code: string; message: string } };
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toMatch(/the revocation is saved, but Redis is unavailable/);
    expect(evicted).toEqual(['k:h2']); // this process refuses the key at once anyway
    expect(published).toEqual([]);
    await jest.advanceTimersByTimeAsync(500 + 1_000 + 2_000 + 4_000 - 1); // three retries fail
    expect(published).toEqual([]);
    await jest.advanceTimersByTimeAsync(1); // the fourth goes through
    expect(published).toEqual(['k:h2']);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(published).toEqual(['k:h2']); // and then it stops
  });

  it('gives up once the stale entries it would replace have expired anyway', async () => {
    failures = Number.MAX_SAFE_INTEGER;
    await invalidator.apiKeyRevoked('h3').catch(() => undefined);
    await jest.advanceTimersByTimeAsync(REDIS_POSITIVE_TTL_MS + 10_000);
    expect(jest.getTimerCount()).toBe(0);
  });
  it("the CLI's: the same 503 telling the operator to run the command again, and no retry left behind", async () => {
    const store = {
      putApiKey: async () => {
        throw new Error('Connection is closed.');
      },
      publish: async (messages: string[]) => void published.push(...messages),
    } as unknown as AuthCacheStore;
    const cli = new OneShotAuthCacheInvalidator({} as PrismaService, store);
    const err = (await cli.apiKeyRevoked('h9').catch((e: unknown) => e)) as ApiError;
    expect(err.getStatus()).toBe(503);
    const { error } = err.getResponse() as { error: { message: string } };
    expect(error.message).toMatch(/the revocation is saved, but Redis is unavailable/);
    expect(error.message).toMatch(/run the command again once Redis is back/);
    expect(error.message).not.toMatch(/background/);
    expect(jest.getTimerCount()).toBe(0);
  });
});
