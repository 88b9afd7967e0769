import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { Browser, chromium, Page } from 'playwright-core';
import { freePort, REPO_ROOT, RunningProcess, startMain, stopProcess, waitForHttp } from '../support/child-process';
import { cleanProcessEnv, testEnv, uniqueSuffix } from '../support/test-env';

/**
 * The dashboard in a real browser: Debian's chromium (installed by .ci/run) driven by
 * playwright-core, against `node dist/main.js` (ROLE=all, built by `npm run build`, dashboard
 * included) with a user made by the operator CLI. Logs in, sends events through the API, waits for
 * the live rate and the event-type table, and shows the error states (401 → login, API down).
 * Screenshots go to test/artifacts/ (git-ignored). Redis DB 12 belongs to this file.
 */
const REDIS_DB = 12;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts');
const CLI_JS = path.join(REPO_ROOT, 'dist', 'cli', 'cli.js');
const execFileAsync = promisify(execFile);

jest.setTimeout(180_000);

// Functions given to page.evaluate / waitForFunction run in the page; these are its globals (the
// test project compiles without DOM types).
declare const document: any;
declare const sessionStorage: any;

describe('dashboard in headless Chromium', () => {
  const run = uniqueSuffix();
  const email = `dash-${run}@example.test`;
  const password = 'correct horse battery staple';
  let env: Record<string, string>;
  let port: number;
  let base: string;
  let app: RunningProcess | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let apiKey: string;
  const requestUrls: string[] = [];
  const cspErrors: string[] = [];

  const cli = async (...args: string[]): Promise<string> => {
    const { stdout } = await execFileAsync(process.execPath, [CLI_JS, ...args], { cwd: REPO_ROOT, env: { ...cleanProcessEnv(), ...env } });
    return stdout;
  };

  const sendEvents = async (count: number, eventType: string): Promise<void> => {
    const events = Array.from({ length: count }, (_, i) => ({
      eventType,
      userId: `browser-user-${i % 5}`,
      sessionId: `browser-session-${i % 3}`,
      timestamp: new Date().toISOString(),
    }));
    const res = await fetch(`${base}/api/v1/events/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      body: JSON.stringify({ events }),
    });
    expect(res.status).toBe(202);
  };


  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does this), or set CHROMIUM_PATH`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'all', PORT: String(port), BATCH_TIMEOUT_MS: '50', LOG_LEVEL: 'warn' } });
    const redis = new Redis(env.REDIS_URL);
    await redis.flushdb();
    redis.disconnect();

    await cli('user:create', '--email', email, '--password', password, '--role', 'OPERATOR');
    apiKey = (JSON.parse(await cli('apikey:create', '--email', email, '--name', 'browser test', '--json')) as { key: string }).key;

    app = startMain(env);
    await waitForHttp(port, '/api/ready', 200, 30_000, app);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('request', (r) => requestUrls.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
  });

  afterAll(async () => {
    await browser?.close();
    if (app) await stopProcess(app);
  });

  it('serves the page from our own server and shows the login form', async () => {
    const res = await page.goto(`${base}/dashboard`);
    expect(res?.status()).toBe(200);
    expect(page.url()).toBe(`${base}/dashboard/`);
    expect(res?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForSelector('#login-form', { state: 'visible' });
    expect(await page.isVisible('#dashboard-view')).toBe(false);
  });

  it('rejects a wrong password with a visible message', async () => {
    await page.fill('#login-email', email);
    await page.fill('#login-password', 'not the password');
    await page.click('#login-submit');
    await page.waitForSelector('#login-error:not([hidden])');
    expect(await page.textContent('#login-error')).toMatch(/wrong email or password/i);
  });

  it('logs in, streams live rates above zero and lists the events by type', async () => {
    await page.fill('#login-password', password);
    await page.click('#login-submit');
    await page.waitForSelector('#dashboard-view', { state: 'visible' });
    await page.waitForSelector('#live-status[data-state="live"]');
    expect(await page.textContent('#user-info')).toContain('OPERATOR');
    // OPERATOR and above may replay the DLQ
    expect(await page.isVisible('#dlq-replay')).toBe(true);

    // Events flow while we watch the live tile (ingest rate is per second, so keep sending).
    let sending = true;
    const sender = (async () => {
      while (sending) {
        await sendEvents(25, 'browser.click');
        await sendEvents(10, 'browser.view');
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    try {
      await page.waitForFunction(() => Number(document.getElementById('ingest-rate')?.textContent?.replace(/[^\d.]/g, '') || 0) > 0, undefined, { timeout: 30_000 });
      await page.waitForFunction(() => Number(document.getElementById('process-rate')?.textContent?.replace(/[^\d.]/g, '') || 0) > 0, undefined, { timeout: 30_000 });
    } finally {
      sending = false;
      await sender;
    }

    // The analytics tables pick the events up once the worker has stored them (10 s answer cache).
    await page.waitForFunction(
      () => {
        const rows = [...document.querySelectorAll('#events-by-type tbody tr')].map((tr: any) => String(tr.textContent ?? ''));
        return rows.some((r: string) => r.includes('browser.click')) && rows.some((r: string) => r.includes('browser.view'));
      },
      undefined,
      { timeout: 60_000 },
    ).catch(async (err: Error) => {
      // Say what the page showed instead (banner, table), and what the API answers now.
      const shown = await page.evaluate(() => ({ banner: document.getElementById('banner')?.textContent, table: document.getElementById('events-by-type')?.textContent }));
      const api = await fetch(`${base}/api/v1/analytics/metrics?timeRange=1h`, { headers: { 'x-api-key': apiKey } }).then((r) => r.text());
      throw new Error(`${err.message}\npage: ${JSON.stringify(shown)}\napi: ${api.slice(0, 500)}\napp output: ${app?.output().slice(-2000)}`);
    });
    const rows = await page.$$eval('#events-by-type tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    const click = rows.find((r) => r[0] === 'browser.click')!;
    expect(Number(click[1]!.replace(/[^\d]/g, ''))).toBeGreaterThan(0);
    expect(await page.$$eval('#top-users tbody tr', (trs) => trs.map((tr) => tr.textContent ?? '').join(' '))).toContain('browser-user-');
    // the range buttons load another window
    await page.click('#range button[data-range="24h"]');
    await page.waitForSelector('#range button[data-range="24h"].active');

    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  });

  it('never puts the token in a URL and loads nothing from another origin', async () => {
    const token = await page.evaluate(() => sessionStorage.getItem('evp.dashboard.token'));
    expect(token).toEqual(expect.any(String));
    expect(requestUrls.filter((u) => u.includes(token!))).toEqual([]);
    expect(requestUrls.filter((u) => !u.startsWith(base))).toEqual([]);
    expect(requestUrls.some((u) => u.endsWith('/api/v1/metrics/live'))).toBe(true);
    expect(cspErrors).toEqual([]);
  });

  it('the replay button replays the DLQ (empty here) and reports the outcome', async () => {
    page.once('dialog', (d) => void d.accept());
    await page.click('#dlq-replay');
    await page.waitForSelector('#dlq-result:not([hidden])');
    expect(await page.textContent('#dlq-result')).toMatch(/^Replayed 0, skipped 0, 0 left\.$/);
  });

  it('a 401 (invalid or expired token) goes back to the login form with a message', async () => {
    await page.evaluate(() => sessionStorage.setItem('evp.dashboard.token', 'not.a.valid-token'));
    await page.reload();
    await page.waitForSelector('#login-view', { state: 'visible' });
    expect(await page.textContent('#login-error')).toMatch(/session has expired/i);
    expect(await page.evaluate(() => sessionStorage.getItem('evp.dashboard.token'))).toBeNull();
  });

  it('shows that the API is down when it stops, and the API drains with the live stream open', async () => {
    await page.fill('#login-email', email);
    await page.fill('#login-password', password);
    await page.click('#login-submit');
    await page.waitForSelector('#live-status[data-state="live"]');

    await stopProcess(app!);
    expect((await app!.exited).code).toBe(0);
    app = undefined;

    await page.waitForSelector('#live-status[data-state="down"]', { timeout: 30_000 });
    await page.waitForSelector('#banner:not([hidden])');
    expect(await page.textContent('#banner')).toMatch(/unreachable/i);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-api-down.png'), fullPage: true });
  });
});
