import { randomBytes } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ApiKeysService } from '../auth/api-keys/api-keys.service';
import { CreateApiKeyDto } from '../auth/api-keys/dto/create-api-key.dto';
import { CreateUserDto } from '../auth/users/dto/create-user.dto';
import { UsersService } from '../auth/users/users.service';
import { isUniqueViolation } from '../auth/prisma-errors';
import { ApiError } from '../common/http/api-error';

/** What a command prints: `text` for people, `json` for scripts (--json). */
export interface CommandOutput {
  text: string;
  json: unknown;
}

export class UsageError extends Error {}

export interface CliServices {
  users: UsersService;
  apiKeys: ApiKeysService;
}

export const BOOTSTRAP_ADMIN_EMAIL = 'admin@localhost';

/** Same rules as the HTTP API (class-validator DTOs); messages name fields, never values. */
function validated<T extends object>(cls: new () => T, plain: Record<string, unknown>): T {
  const dto = plainToInstance(cls, plain);
  const errors = validateSync(dto, { whitelist: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    throw new UsageError(errors.map((e) => Object.values(e.constraints ?? {}).join('; ') || `${e.property} is invalid`).join('\n'));
  }
  return dto;
}

export async function userCreate(s: CliServices, args: { email?: string; password?: string; role?: string; name?: string }): Promise<CommandOutput> {
  const dto = validated(CreateUserDto, { email: args.email, password: args.password, role: args.role?.toUpperCase(), name: args.name });
  const user = await s.users.create(dto);
  return { text: `Created user ${user.email} (${user.role}), id ${user.id}`, json: user };
}

export async function apiKeyCreate(s: CliServices, args: { email?: string; name?: string; expiresAt?: string }): Promise<CommandOutput> {
  const dto = validated(CreateApiKeyDto, { name: args.name, expiresAt: args.expiresAt });
  if (!args.email) throw new UsageError('--email is required');
  const user = await s.users.findByEmail(args.email);
  if (!user) throw new UsageError(`no user with email ${args.email.trim().toLowerCase()}`);
  const key = await s.apiKeys.create(user.id, dto);
  return {
    text: [
      `API key "${key.name}" for ${user.email} (id ${key.id}, prefix ${key.prefix}).`,
      'It is shown only this once; store it now:',
      '',
      `  ${key.key}`,
      '',
    ].join('\n'),
    json: key,
  };
}

export async function apiKeyRevoke(s: CliServices, args: { id?: string }): Promise<CommandOutput> {
  if (!args.id || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(args.id)) {
    throw new UsageError('--id must be the API key id (a UUID, see GET /api/auth/api-keys)');
  }
  await s.apiKeys.revoke(args.id.toLowerCase(), 'operator');
  return { text: `Revoked API key ${args.id.toLowerCase()}`, json: { id: args.id.toLowerCase(), revoked: true } };
}

/**
 * First-run setup, safe to run on every start: when no active ADMIN exists, creates
 * admin@localhost with a random password and an API key and prints both (the only time they are
 * shown); otherwise creates and prints nothing secret.
 */
export async function bootstrapAdmin(s: CliServices): Promise<CommandOutput> {
  if (await s.users.activeAdminExists()) {
    return { text: 'An active ADMIN exists; nothing to do.', json: { created: false } };
  }
  if (await s.users.findByEmail(BOOTSTRAP_ADMIN_EMAIL)) {
    throw new UsageError(
      `no active ADMIN exists, but ${BOOTSTRAP_ADMIN_EMAIL} does (disabled or demoted); ` +
        'create an admin with `npm run cli -- user:create --role ADMIN ...`',
    );
  }
  const password = randomBytes(18).toString('base64url');
  let admin;
  try {
    admin = await s.users.create({ email: BOOTSTRAP_ADMIN_EMAIL, password, role: 'ADMIN', name: 'Administrator' });
  } catch (err) {
    // A concurrent bootstrap won the race: it printed the credentials, we print nothing secret.
    if ((err instanceof ApiError && err.code === 'CONFLICT') || isUniqueViolation(err)) {
      return { text: 'An ADMIN was just created by another process; nothing to do.', json: { created: false } };
    }
    throw err;
  }
  const key = await s.apiKeys.create(admin.id, { name: 'bootstrap' });
  return {
    text: [
      'Created the first ADMIN. These credentials are shown only this once; store them now:',
      '',
      `  email:    ${admin.email}`,
      `  password: ${password}`,
      `  API key:  ${key.key}`,
      '',
      'Log in: POST /api/auth/login {"email","password"}; send events with the header x-api-key.',
    ].join('\n'),
    json: { created: true, email: admin.email, password, apiKey: key.key, userId: admin.id, apiKeyId: key.id },
  };
}
