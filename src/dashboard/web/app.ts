import { AnalyticsMetrics, api, ApiResponseError, ApiUnreachableError, LiveMessage, Me, readLive, session, UnauthorizedError } from './api.js';
import { TimeChart } from './charts.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return el as T;
};

/** Seconds of live history kept on the chart. */
const LIVE_WINDOW = 120;
const ANALYTICS_REFRESH_MS = 5_000;
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 10_000;

interface State {
  me: Me | null;
  range: string;
  live: { x: number[]; ingest: number[]; process: Array<number | null> };
  liveAbort: AbortController | null;
  analyticsTimer: number | undefined;
  liveChart: TimeChart | null;
  overTimeChart: TimeChart | null;
  /** Bumped on logout so stale loops stop. */
  generation: number;
}

const state: State = {
  me: null,
  range: '1h',
  live: { x: [], ingest: [], process: [] },
  liveAbort: null,
  analyticsTimer: undefined,
  liveChart: null,
  overTimeChart: null,
  generation: 0,
};

const fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const formatNumber = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : fmt.format(n));

// --- banners and states --------------------------------------------------------------------------

const problems = new Map<string, string>();

function setProblem(key: string, message: string | null): void {
  if (message) problems.set(key, message);
  else problems.delete(key);
  const banner = $('banner');
  banner.textContent = [...problems.values()].join(' ');
  banner.hidden = problems.size === 0;
}

function setLiveStatus(s: 'idle' | 'live' | 'reconnecting' | 'down'): void {
  const pill = $('live-status');
  pill.dataset.state = s;
  pill.textContent = { idle: 'offline', live: 'live', reconnecting: 'reconnecting…', down: 'API unreachable' }[s];
}

/** Every failed call ends here: 401 → back to the login form, otherwise a visible banner. */
function handleError(key: string, err: unknown): void {
  if (err instanceof UnauthorizedError) {
    logout(err.message);
    return;
  }
  if (err instanceof ApiUnreachableError) setProblem(key, 'The API is unreachable; retrying…');
  else if (err instanceof ApiResponseError) setProblem(key, `${key}: ${err.code} — ${err.message}`);
  else setProblem(key, `${key}: ${(err as Error).message}`);
}

// --- login ---------------------------------------------------------------------------------------

function showLogin(message?: string): void {
  $('dashboard-view').hidden = true;
  $('login-view').hidden = false;
  $('user-info').hidden = true;
  $('logout').hidden = true;
  const error = $('login-error');
  error.textContent = message ?? '';
  error.hidden = !message;
  setLiveStatus('idle');
  $<HTMLInputElement>('login-email').focus();
}

function logout(message?: string): void {
  state.generation++;
  session.clear();
  state.me = null;
  state.liveAbort?.abort();
  state.liveAbort = null;
  window.clearInterval(state.analyticsTimer);
  problems.clear();
  setProblem('', null);
  showLogin(message);
}

async function onLogin(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  const button = $<HTMLButtonElement>('login-submit');
  const error = $('login-error');
  button.disabled = true;
  error.hidden = true;
  try {
    const result = await api.login($<HTMLInputElement>('login-email').value, $<HTMLInputElement>('login-password').value);
    session.set(result.token);
    $<HTMLInputElement>('login-password').value = '';
    await start();
  } catch (err) {
    error.textContent =
      err instanceof UnauthorizedError
        ? 'Wrong email or password.'
        : err instanceof ApiUnreachableError
          ? 'The API is unreachable; try again in a moment.'
          : err instanceof ApiResponseError
            ? `${err.code}: ${err.message}`
            : String(err);
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// --- dashboard -----------------------------------------------------------------------------------

async function start(): Promise<void> {
  try {
    state.me = await api.me();
  } catch (err) {
    if (err instanceof UnauthorizedError) return logout(err.message);
    if (err instanceof ApiUnreachableError) return showLogin('The API is unreachable; try again in a moment.');
    return showLogin(String((err as Error).message));
  }
  const generation = ++state.generation;
  $('login-view').hidden = true;
  $('dashboard-view').hidden = false;
  $('user-info').textContent = `${state.me.email} (${state.me.role})`;
  $('user-info').hidden = false;
  $('logout').hidden = false;
  $('dlq-replay').hidden = !(state.me.role === 'OPERATOR' || state.me.role === 'ADMIN');

  state.liveChart ??= new TimeChart(
    $('live-chart'),
    [
      { label: 'ingest/s', stroke: '#2563eb' },
      { label: 'process/s', stroke: '#16a34a' },
    ],
    'events/s',
    LIVE_WINDOW,
  );
  state.overTimeChart ??= new TimeChart($('over-time-chart'), [{ label: 'events', stroke: '#7a5af8', fill: 'rgba(122,90,248,0.12)' }], 'events');

  void liveLoop(generation);
  void loadAnalytics(generation);
  state.analyticsTimer = window.setInterval(() => void loadAnalytics(generation), ANALYTICS_REFRESH_MS);
}

async function liveLoop(generation: number): Promise<void> {
  let delay = RECONNECT_MIN_MS;
  while (generation === state.generation) {
    const abort = new AbortController();
    state.liveAbort = abort;
    setLiveStatus('reconnecting');
    try {
      await readLive((m) => {
        delay = RECONNECT_MIN_MS;
        setLiveStatus('live');
        setProblem('Live metrics', m.stale ? 'Live metrics: Redis is not answering; the numbers shown are the last known ones.' : null);
        onLiveMessage(m);
      }, abort.signal);
      // The server ended the stream (it does every few minutes): reconnect at once.
      delay = RECONNECT_MIN_MS;
    } catch (err) {
      if (generation !== state.generation) return;
      handleError('Live metrics', err);
      if (err instanceof UnauthorizedError) return;
      setLiveStatus(err instanceof ApiUnreachableError ? 'down' : 'reconnecting');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    }
  }
}

function onLiveMessage(m: LiveMessage): void {
  $('ingest-rate').textContent = formatNumber(m.ingestRate);
  $('process-rate').textContent = formatNumber(m.processRate);
  $('backlog').textContent = formatNumber(m.backlog);
  $('dlq-size').textContent = formatNumber(m.dlqSize);
  $('live-updated').textContent = `updated ${new Date(m.timestamp).toLocaleTimeString()}`;
  const { x, ingest, process } = state.live;
  x.push(Math.floor(Date.parse(m.timestamp) / 1000));
  ingest.push(m.ingestRate);
  process.push(m.processRate);
  while (x.length > LIVE_WINDOW) {
    x.shift();
    ingest.shift();
    process.shift();
  }
  state.liveChart?.set(x, [ingest, process]);
}

async function loadAnalytics(generation: number): Promise<void> {
  const range = state.range;
  let data: AnalyticsMetrics;
  try {
    data = await api.analytics(range);
  } catch (err) {
    if (generation === state.generation) handleError('Analytics', err);
    return;
  }
  if (generation !== state.generation || range !== state.range) return;
  setProblem('Analytics', null);
  $('total-events').textContent = formatNumber(data.totalEvents);
  $('unique-users').textContent = formatNumber(data.uniqueUsers);
  $('unique-sessions').textContent = formatNumber(data.uniqueSessions);
  $('analytics-updated').textContent = `· updated ${new Date().toLocaleTimeString()}`;
  fillTable(
    'events-by-type',
    data.eventsByType.map((t) => [t.eventType, formatNumber(t.count), `${formatNumber(t.percentage)}%`]),
    [false, true, true],
  );
  fillTable(
    'top-users',
    data.topUsers.map((u) => [u.userId, formatNumber(u.eventCount), u.lastEventAt ? new Date(u.lastEventAt).toLocaleString() : '–']),
    [false, true, false],
  );
  state.overTimeChart?.set(
    data.eventsOverTime.map((p) => Math.floor(Date.parse(p.timestamp) / 1000)),
    [data.eventsOverTime.map((p) => p.count)],
  );
}

/** Rows from data through textContent only: event types and user ids come from clients. */
function fillTable(id: string, rows: string[][], numeric: boolean[]): void {
  const tbody = $(id).querySelector('tbody')!;
  tbody.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    tr.className = 'empty';
    const td = document.createElement('td');
    td.colSpan = numeric.length;
    td.textContent = 'No events in this range';
    tr.append(td);
    tbody.append(tr);
    return;
  }
  for (const row of rows) {
    const tr = document.createElement('tr');
    row.forEach((cell, i) => {
      const td = document.createElement('td');
      td.textContent = cell;
      if (numeric[i]) td.className = 'num';
      tr.append(td);
    });
    tbody.append(tr);
  }
}

async function onReplay(): Promise<void> {
  const button = $<HTMLButtonElement>('dlq-replay');
  const out = $('dlq-result');
  if (!window.confirm('Put every dead-lettered entry back into the stream?')) return;
  button.disabled = true;
  try {
    const r = await api.replayDlq();
    out.textContent = `Replayed ${r.replayed.length}, skipped ${r.skipped.length}, ${r.remaining} left.`;
    setProblem('DLQ replay', null);
  } catch (err) {
    handleError('DLQ replay', err);
    out.textContent = 'Replay failed.';
  } finally {
    out.hidden = false;
    button.disabled = false;
  }
}

function onRange(ev: MouseEvent): void {
  const button = (ev.target as HTMLElement).closest<HTMLButtonElement>('button[data-range]');
  if (!button || !button.dataset.range) return;
  state.range = button.dataset.range;
  for (const b of $('range').querySelectorAll('button')) b.classList.toggle('active', b === button);
  void loadAnalytics(state.generation);
}

function init(): void {
  $<HTMLFormElement>('login-form').addEventListener('submit', (ev) => void onLogin(ev));
  $('logout').addEventListener('click', () => logout());
  $('dlq-replay').addEventListener('click', () => void onReplay());
  $('range').addEventListener('click', onRange);
  if (session.token) void start();
  else showLogin();
}

// Module scripts run after parsing, but uPlot's classic deferred script must have run too.
if (document.readyState === 'complete' || window.uPlot) init();
else window.addEventListener('load', init, { once: true });
