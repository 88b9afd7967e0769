import { ConfigValidationError, loadAppConfig } from './app-config';
import { InvalidRoleError, parseRole } from './app-role';

const base = { DATABASE_URL: 'postgresql://u:hunter2hunter2@db:5432/x' };

describe('loadAppConfig', () => {
  it('applies the contract defaults', () => {
    const c = loadAppConfig(base);
    expect(c).toMatchObject({
      ROLE: 'all',
      PORT: 3001,
      HEALTH_PORT: 3002,
      STREAM_KEY: 'events_stream',
      CONSUMER_GROUP: 'event-processors',
      DEDUP_TTL_SECONDS: 600,
      BATCH_SIZE: 100,
      BATCH_TIMEOUT_MS: 500,
      READ_COUNT: 50,
      CLAIM_IDLE_MS: 60_000,
      MAX_RETRIES: 3,
      STREAM_PARTITIONS: 1,
      TRUST_PROXY: false,
      HTTP_REQUEST_TIMEOUT_MS: 30_000,
    });
    expect(c.mongoShardUris).toHaveLength(3);
  });

  it('bounds HTTP_REQUEST_TIMEOUT_MS to 1 s – 10 min (never 0: Fastify would read that as no limit)', () => {
    expect(loadAppConfig({ ...base, HTTP_REQUEST_TIMEOUT_MS: '1000' }).HTTP_REQUEST_TIMEOUT_MS).toBe(1_000);
    for (const bad of ['0', '999', '600001', 'soon']) {
      expect(() => loadAppConfig({ ...base, HTTP_REQUEST_TIMEOUT_MS: bad })).toThrow(/HTTP_REQUEST_TIMEOUT_MS/);
    }
  });

  it('converts numbers and booleans from strings', () => {
    const c = loadAppConfig({ ...base, PORT: '8080', TRUST_PROXY: 'true', MONGO_SHARD_URIS: 'mongodb://m:27017/db' });
    expect(c.PORT).toBe(8080);
    expect(c.TRUST_PROXY).toBe(true);
    expect(c.mongoShardUris).toEqual(['mongodb://m:27017/db']);
  });

  it('reads TRUST_PROXY as a boolean or a list of proxy addresses; hop counts are refused', () => {
    const trust = (v: string) => loadAppConfig({ ...base, TRUST_PROXY: v }).TRUST_PROXY;
    expect(trust('false')).toBe(false);
    expect(trust('0')).toBe(false);
    expect(trust('TRUE')).toBe(true);
    expect(trust('10.0.0.0/8, 127.0.0.1,::1/128,loopback')).toBe('10.0.0.0/8,127.0.0.1,::1/128,loopback');
    // Digits are neither `true` nor a hop count (Fastify >= 5.12.1 would silently trust nothing).
    for (const bad of ['1', '2', 'maybe', '10.0.0.0/33', '::1/129', '300.1.1.1', '10.0.0.1,', '10.0.0.0/8/1', '-1', '33']) {
      expect(() => trust(bad)).toThrow(/TRUST_PROXY is missing or invalid/);
    }
  });

  it('names a missing DATABASE_URL', () => {
    expect(() => loadAppConfig({})).toThrow(/DATABASE_URL/);
    expect(() => loadAppConfig({ ROLE: 'api' })).toThrow(/DATABASE_URL/);
  });

  it('a worker needs neither DATABASE_URL nor JWT_SECRET (it opens no database and checks no tokens)', () => {
    const worker = loadAppConfig({ ROLE: 'worker', NODE_ENV: 'production' });
    expect(worker.ROLE).toBe('worker');
    expect(worker.DATABASE_URL).toBeUndefined();
    expect(() => loadAppConfig({ ROLE: 'api', NODE_ENV: 'production', DATABASE_URL: base.DATABASE_URL })).toThrow(/JWT_SECRET/);
    expect(() => loadAppConfig({ ROLE: 'all', NODE_ENV: 'production' })).toThrow(/DATABASE_URL.*JWT_SECRET|JWT_SECRET.*DATABASE_URL/s);
  });

  it('names invalid variables but never prints their values', () => {
    const secret = 'short-but-very-secret';
    let error: unknown;
    try {
      loadAppConfig({ ...base, NODE_ENV: 'production', JWT_SECRET: secret, PORT: 'eighty' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigValidationError);
    const message = (error as Error).message;
    expect((error as ConfigValidationError).variables.sort()).toEqual(['JWT_SECRET', 'PORT']);
    expect(message).not.toContain(secret);
    expect(message).not.toContain('eighty');
    expect(message).not.toContain('hunter2');
  });

  it('requires JWT_SECRET in production only', () => {
    expect(() => loadAppConfig({ ...base, NODE_ENV: 'production' })).toThrow(/JWT_SECRET/);
    expect(loadAppConfig({ ...base, NODE_ENV: 'development' }).JWT_SECRET).toBeUndefined();
  });
});

describe('parseRole', () => {
  it('accepts api, worker, all (default all)', () => {
    expect(parseRole('api')).toBe('api');
    expect(parseRole(' WORKER ')).toBe('worker');
    expect(parseRole(undefined)).toBe('all');
  });
  it('rejects anything else, listing the valid roles', () => {
    expect(() => parseRole('bogus')).toThrow(InvalidRoleError);
    expect(() => parseRole('bogus')).toThrow('ROLE must be one of: api, worker, all');
  });
});
