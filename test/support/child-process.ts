import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { cleanProcessEnv } from './test-env';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const MAIN_JS = path.join(REPO_ROOT, 'dist', 'main.js');

export interface RunningProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (or null with the signal). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `node dist/main.js` (npm run build first) with exactly `env` on top of a clean environment. */
export function startMain(env: Record<string, string>, args: string[] = []): RunningProcess {
  const child = spawn(process.execPath, [MAIN_JS, ...args], {
    cwd: REPO_ROOT,
    env: { ...cleanProcessEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  return { child, output: () => out, exited };
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as net.AddressInfo;
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Polls until `probe` resolves truthy or the deadline passes. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

/** Waits until http://127.0.0.1:port/path answers with `status`. */
export async function waitForHttp(port: number, urlPath: string, status = 200, timeoutMs = 20_000, proc?: RunningProcess): Promise<void> {
  await waitFor(async () => {
    if (proc && proc.child.exitCode !== null) throw new Error(`process exited early:\n${proc.output()}`);
    const res = await fetch(`http://127.0.0.1:${port}${urlPath}`).catch(() => undefined);
    return res?.status === status;
  }, timeoutMs);
}

export async function stopProcess(proc: RunningProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill(signal);
  await proc.exited;
}
