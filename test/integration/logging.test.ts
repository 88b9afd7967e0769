import { freePort, startMain, stopProcess, waitForHttp } from '../support/child-process';
import { testEnv } from '../support/test-env';

describe('request logging (child process, production JSON)', () => {
  it('echoes x-request-id, tags lines with module/role/replicaId, redacts secrets, skips health', async () => {
    const port = await freePort();
    const proc = startMain(testEnv({ redisDb: 1, overrides: { ROLE: 'api', PORT: String(port), LOG_LEVEL: 'info', NODE_ENV: 'production' } }));
    try {
      await waitForHttp(port, '/api/live', 200, 30_000, proc);
      const secretKey = 'evp_thisMustNeverBeLogged_0123456789';
      const bearer = 'Bearer eyJhbGciOiJIUzI1NiJ9.never-logged.sig';
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/does-not-exist`, {
        headers: { 'x-request-id': 'req-abc_123', 'x-api-key': secretKey, authorization: bearer },
      });
      expect(res.headers.get('x-request-id')).toBe('req-abc_123');
      const generated = await fetch(`http://127.0.0.1:${port}/api/live`);
      expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      // A hostile request id is replaced, not echoed.
      const hostile = await fetch(`http://127.0.0.1:${port}/api/live`, { headers: { 'x-request-id': 'a b "c"<script>' } });
      expect(hostile.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      await fetch(`http://127.0.0.1:${port}/api/health`);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      await stopProcess(proc);
    }
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, any>);
    const reqLine = lines.find((l) => l.req?.id === 'req-abc_123');
    expect(reqLine).toBeDefined();
    expect(reqLine).toMatchObject({ module: 'http', role: 'api', replicaId: expect.stringMatching(/-\d+$/) });
    expect(reqLine!.req.headers['x-api-key']).toBe('[REDACTED]');
    expect(reqLine!.req.headers.authorization).toBe('[REDACTED]');
    expect(proc.output()).not.toContain('thisMustNeverBeLogged');
    expect(proc.output()).not.toContain('never-logged');
    // `module` appears once per line (a duplicate JSON key would hide one of the values).
    for (const raw of proc.output().split('\n').filter((l) => l.startsWith('{'))) {
      expect(raw.match(/"module":/g)?.length ?? 0).toBeLessThanOrEqual(1);
    }
    // Every JSON line carries module, role and replicaId.
    for (const l of lines) expect(l).toEqual(expect.objectContaining({ role: 'api', replicaId: expect.any(String), module: expect.any(String) }));
    // Health endpoints are not logged.
    expect(lines.some((l) => typeof l.req?.url === 'string' && /\/api\/(health|live)/.test(l.req.url))).toBe(false);
  });
});
