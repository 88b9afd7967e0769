import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { ApiError } from '../../common/http/api-error';
import { ErrorCode } from '../../common/http/error-codes';
import { PrismaService } from '../../prisma/prisma.service';
import { AuthCacheInvalidator } from '../cache/auth-cache-invalidator';
import { postgres } from '../prisma-errors';
import { generateApiKey } from './api-key-secret';

/** A key as lists show it: never the key, never its hash. */
export interface ApiKeyView {
  id: string;
  userId: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** Returned once, at creation: the only time the key itself is available. */
export interface CreatedApiKey extends ApiKeyView {
  key: string;
}

const API_KEY_VIEW_SELECT = {
  id: true,
  userId: true,
  name: true,
  prefix: true,
  createdAt: true,
  lastUsedAt: true,
  expiresAt: true,
  revokedAt: true,
} as const;

/** Who asks to revoke: a user (owner, or any key if ADMIN) or the operator CLI (any key). */
export type RevokeActor = { userId: string; isAdmin: boolean } | 'operator';

@Injectable()
export class ApiKeysService {
  private readonly logger = new Logger('auth');

  constructor(
    private readonly prisma: PrismaService,
    private readonly invalidator: AuthCacheInvalidator,
  ) {}

  async create(userId: string, input: { name: string; expiresAt?: Date }): Promise<CreatedApiKey> {
    const owner = await postgres(() => this.prisma.user.findUnique({ where: { id: userId }, select: { status: true } }));
    if (!owner) throw ApiError.notFound('User not found');
    if (owner.status !== 'ACTIVE') {
      throw new ApiError(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'The user is disabled; its keys would not work');
    }
    const secret = generateApiKey();
    const row = await postgres(() =>
      this.prisma.apiKey.create({
        data: { userId, name: input.name, prefix: secret.prefix, keyHash: secret.keyHash, expiresAt: input.expiresAt ?? null },
        select: API_KEY_VIEW_SELECT,
      }),
    );
    // The prefix identifies the key in logs without revealing it.
    this.logger.log({ apiKeyId: row.id, userId, prefix: row.prefix }, 'API key created');
    return { ...row, key: secret.key };
  }

  async list(userId: string): Promise<ApiKeyView[]> {
    return postgres(() =>
      this.prisma.apiKey.findMany({ where: { userId }, select: API_KEY_VIEW_SELECT, orderBy: { createdAt: 'desc' } }),
    );
  }

  /**
   * Revokes a key; once this returns, every API process refuses it within 1 s. Someone else's
   * key is 404 (its existence is not revealed). Revoking a revoked key is a no-op that still
   * republishes the revocation (so a retry after a Redis failure completes it).
   */
  async revoke(id: string, actor: RevokeActor): Promise<void> {
    const key = await postgres(() =>
      this.prisma.apiKey.findUnique({ where: { id }, select: { userId: true, keyHash: true, revokedAt: true } }),
    );
    const allowed = key && (actor === 'operator' || actor.isAdmin || actor.userId === key.userId);
    if (!key || !allowed) throw ApiError.notFound('API key not found');
    if (!key.revokedAt) {
      await postgres(() => this.prisma.apiKey.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } }));
    }
    await this.invalidator.apiKeyRevoked(key.keyHash);
    this.logger.log({ apiKeyId: id, by: actor === 'operator' ? 'cli' : actor.userId }, 'API key revoked');
  }
}
