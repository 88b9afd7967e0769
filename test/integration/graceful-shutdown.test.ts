import { freePort, startMain, waitForHttp } from '../support/child-process';
import { testEnv } from '../support/test-env';

describe('graceful shutdown (child processes)', () => {
  it.each(['api', 'worker', 'all'])('ROLE=%s: SIGTERM exits 0 within 10 s', async (role) => {
    const [port, healthPort] = [await freePort(), await freePort()];
    const proc = startMain(testEnv({ redisDb: 1, overrides: { ROLE: role, PORT: String(port), HEALTH_PORT: String(healthPort), LOG_LEVEL: 'info' } }));
    await waitForHttp(role === 'worker' ? healthPort : port, '/api/ready', 200, 30_000, proc);
    const started = Date.now();
    proc.child.kill('SIGTERM');
    const { code, signal } = await proc.exited;
    // A deadline from the requirements (10 s), not a performance figure.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(proc.output()).toContain('shutdown complete');
  });
});
