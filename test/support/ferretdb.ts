import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { freePort, REPO_ROOT, RunningProcess, waitFor } from './child-process';
import { ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { TEST_DATABASE_URL } from './test-env';

let binary: string | undefined;

/** Path of the FerretDB binary that `npm run services:up` builds (built on demand). */
export function ferretdbBinary(): string {
  binary ??= execFileSync('bash', ['scripts/services.sh', 'ferretdb-bin'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  return binary;
}

/**
 * A private FerretDB instance (PostgreSQL backend, its own database) that a test may stop and
 * start at will without disturbing the shared shards on 27017–27019.
 */
export class PrivateFerretDb {
  private proc?: ChildProcess;
  private log = '';

  private constructor(
    readonly port: number,
    readonly pgDatabase: string,
  ) {}

  static async create(name: string): Promise<PrivateFerretDb> {
    const port = await freePort();
    const db = `ferretdb_${name}`.replace(/[^a-z0-9_]/gi, '_').toLowerCase();
    const admin = new Client({ connectionString: TEST_DATABASE_URL.replace(/\/[^/]*$/, '/postgres') });
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
    if (!rowCount) await admin.query(`CREATE DATABASE "${db}"`);
    await admin.end();
    const instance = new PrivateFerretDb(port, db);
    await instance.start();
    return instance;
  }

  get uri(): string {
    return `mongodb://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const pgUrl = TEST_DATABASE_URL.replace(/\/[^/]*$/, `/${this.pgDatabase}`);
    this.proc = spawn(ferretdbBinary(), ['-listen', `127.0.0.1:${this.port}`, '-handler', 'postgresql', '-postgresql-url', pgUrl], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stdout!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(this.port, '127.0.0.1', () => {
            s.destroy();
            resolve(true);
          });
          s.on('error', () => resolve(false));
        }),
      20_000,
    ).catch((err: Error) => {
      throw new Error(`FerretDB on ${this.port} did not start: ${err.message}\n${this.log}`);
    });
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, as with a hung shard. */
  pause(): void {
    this.proc?.kill('SIGSTOP');
  }

  resume(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await once(p, 'exit');
  }
}

export type { RunningProcess };
