import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { TEST_DATABASE_URL } from './test-env';

/**
 * Integration and e2e tests need the real services and the migrated test database. `npm test`
 * (scripts/test.sh) brings services up first; this makes a bare `npx jest` work too.
 */
export default async function globalSetup(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  if (process.env.EVP_SERVICES_READY !== '1') {
    execFileSync('bash', ['scripts/services.sh', 'up'], { cwd: root, stdio: 'inherit' });
    process.env.EVP_SERVICES_READY = '1';
  }
  execFileSync(process.execPath, ['scripts/db-migrate.js'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: TEST_DATABASE_URL, ENV_FILE: '/nonexistent/.env' },
  });
}
