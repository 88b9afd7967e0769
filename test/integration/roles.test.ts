import { freePort, startMain, stopProcess, waitForHttp, RunningProcess } from '../support/child-process';
import { testEnv } from '../support/test-env';

/** Each role booted as the real process (`node dist/main.js`) against the real services. */
describe('ROLE selection (child processes)', () => {
  const running: RunningProcess[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => stopProcess(p)));
  });

  async function boot(role: string): Promise<{ port: number; healthPort: number; proc: RunningProcess }> {
    const [port, healthPort] = [await freePort(), await freePort()];
    const proc = startMain(testEnv({ redisDb: 1, overrides: { ROLE: role, PORT: String(port), HEALTH_PORT: String(healthPort) } }));
    running.push(proc);
    await waitForHttp(role === 'worker' ? healthPort : port, '/api/live', 200, 30_000, proc);
    return { port, healthPort, proc };
  }

  const get = (port: number, path: string) => fetch(`http://127.0.0.1:${port}${path}`);

  it('api serves health and API routes on PORT and nothing on HEALTH_PORT', async () => {
    const { port, healthPort } = await boot('api');
    const health = await get(port, '/api/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', info: { redis: { status: 'up' }, postgres: { status: 'up' } } });
    // An API route exists (it wants an API key) — not a 404.
    const ingest = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ingest.status).toBe(401);
    await expect(get(healthPort, '/api/live')).rejects.toThrow();
  });

  it('worker serves only health, on HEALTH_PORT', async () => {
    const { port, healthPort } = await boot('worker');
    expect((await get(healthPort, '/api/health')).status).toBe(200);
    expect((await get(healthPort, '/api/ready')).status).toBe(200);
    expect((await get(healthPort, '/api/live')).status).toBe(200);
    const apiRoute = await fetch(`http://127.0.0.1:${healthPort}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(apiRoute.status).toBe(404);
    await expect(get(port, '/api/live')).rejects.toThrow();
  });

  it('all serves health and API routes on PORT', async () => {
    const { port } = await boot('all');
    const health = await get(port, '/api/health');
    expect(health.status).toBe(200);
    const body = (await health.json()) as { info: Record<string, unknown> };
    expect(Object.keys(body.info)).toEqual(expect.arrayContaining(['redis', 'postgres', 'mongo-shard-0', 'mongo-shard-1', 'mongo-shard-2']));
    const ingest = await fetch(`http://127.0.0.1:${port}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ingest.status).toBe(401);
  });

  it('an unknown ROLE exits 1 naming the valid roles', async () => {
    const proc = startMain(testEnv({ redisDb: 1, overrides: { ROLE: 'bogus' } }));
    const { code } = await proc.exited;
    expect(code).toBe(1);
    expect(proc.output()).toContain('ROLE must be one of: api, worker, all');
  });
});
