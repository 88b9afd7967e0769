import { startMain } from '../support/child-process';
import { testEnv } from '../support/test-env';

describe('configuration errors stop the process (child processes)', () => {
  it('a missing DATABASE_URL exits 1 and names it', async () => {
    const proc = startMain(testEnv({ redisDb: 1, overrides: { DATABASE_URL: undefined } }));
    const { code } = await proc.exited;
    expect(code).toBe(1);
    expect(proc.output()).toMatch(/DATABASE_URL is missing or invalid/);
  });

  it('never prints the value of an invalid secret or URL', async () => {
    const secret = 'tooShortButSecret-7f3a';
    const proc = startMain(
      testEnv({
        redisDb: 1,
        overrides: { NODE_ENV: 'production', JWT_SECRET: secret, REDIS_URL: 'http://user:pa55word-9x@redis:6379' },
      }),
    );
    const { code } = await proc.exited;
    const out = proc.output();
    expect(code).toBe(1);
    expect(out).toContain('JWT_SECRET');
    expect(out).toContain('REDIS_URL');
    expect(out).not.toContain(secret);
    expect(out).not.toContain('pa55word-9x');
  });

  it('an unreachable dependency fails boot fast with exit 1', async () => {
    const proc = startMain(testEnv({ redisDb: 1, overrides: { ROLE: 'api', REDIS_URL: 'redis://127.0.0.1:1' } }));
    const { code } = await proc.exited;
    expect(code).toBe(1);
    expect(proc.output()).toContain('Redis (REDIS_URL) is unreachable');
  });
});
