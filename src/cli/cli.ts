import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConsoleLogger, INestApplicationContext, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ApiKeysService } from '../auth/api-keys/api-keys.service';
import { UsersService } from '../auth/users/users.service';
import { ApiError, DependencyUnavailableError } from '../common/http/api-error';
import type { ErrorEnvelope } from '../common/http/error-codes';
import { ConfigValidationError, loadAppConfig, loadEnvFile } from '../config/app-config';
import { apiKeyCreate, apiKeyRevoke, bootstrapAdmin, CliServices, CommandOutput, userCreate, UsageError } from './cli-commands';
import { CliModule } from './cli.module';

const USAGE = `Usage: npm run cli -- <command> [options] [--json]

  user:create --email E --password P --role ADMIN|OPERATOR|VIEWER [--name N]
  apikey:create --email E --name N [--expires-at ISO-8601]   prints the key once
  apikey:revoke --id UUID                                     refused by every API process within 1 s
  bootstrap-admin                                             first ADMIN + API key when none exists (idempotent)

Reads DATABASE_URL and REDIS_URL from the environment or .env.`;

const COMMANDS: Record<string, (s: CliServices, v: Record<string, string | undefined>) => Promise<CommandOutput>> = {
  'user:create': (s, v) => userCreate(s, { email: v.email, password: v.password, role: v.role, name: v.name }),
  'apikey:create': (s, v) => apiKeyCreate(s, { email: v.email, name: v.name, expiresAt: v['expires-at'] }),
  'apikey:revoke': (s, v) => apiKeyRevoke(s, { id: v.id }),
  'bootstrap-admin': (s) => bootstrapAdmin(s),
};

/** Nest's own messages (warnings, errors) go to stderr so stdout carries only the command's output. */
class StderrLogger extends ConsoleLogger {
  protected override printMessages(messages: unknown[], context?: string, logLevel?: LogLevel): void {
    super.printMessages(messages, context, logLevel, 'stderr');
  }
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      email: { type: 'string' },
      password: { type: 'string' },
      role: { type: 'string' },
      name: { type: 'string' },
      id: { type: 'string' },
      'expires-at': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run || positionals.length > 1) throw new UsageError(`unknown command: ${positionals.join(' ')}`);

  loadEnvFile();
  const config = loadAppConfig();
  let app: INestApplicationContext | undefined;
  try {
    app = await NestFactory.createApplicationContext(CliModule.forRoot(config), {
      logger: new StderrLogger({ logLevels: ['error', 'warn'] }),
      abortOnError: false,
    });
    const services: CliServices = { users: app.get(UsersService), apiKeys: app.get(ApiKeysService) };
    const { json, help: _help, ...strings } = values;
    const output = await run(services, strings);
    process.stdout.write(json ? `${JSON.stringify(output.json)}\n` : `${output.text}\n`);
    return 0;
  } finally {
    await app?.close();
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    const usage = err instanceof UsageError || String((err as { code?: unknown })?.code ?? '').startsWith('ERR_PARSE_ARGS');
    // Messages only: no stack, no configuration values, never a password or key.
    let message: string;
    if (usage || err instanceof ConfigValidationError) message = (err as Error).message;
    else if (err instanceof ApiError) message = (err.getResponse() as ErrorEnvelope).error.message;
    else if (err instanceof DependencyUnavailableError) message = `${err.dependency} is unavailable`;
    else message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    process.stderr.write(`cli: ${message}\n`);
    if (usage) process.stderr.write(`\n${USAGE}\n`);
    process.exit(usage ? 2 : 1);
  });
