import { Injectable, Logger } from '@nestjs/common';
import { ApiError } from '../common/http/api-error';
import { PrismaService } from '../prisma/prisma.service';
import { AuthCacheStore } from './cache/auth-cache.store';
import { USER_STATE_SELECT, userSnapshot } from './cache/snapshots';
import { AccessTokens } from './jwt/access-tokens';
import { PasswordHasher } from './passwords/password-hasher';
import type { Role } from './principal';
import { postgres } from './prisma-errors';

export interface LoginResult {
  token: string;
  expiresIn: number;
  user: { id: string; email: string; name: string; role: Role };
}

const invalidCredentials = (): ApiError => ApiError.unauthorized('Invalid email or password');

@Injectable()
export class AuthService {
  private readonly logger = new Logger('auth');

  constructor(
    private readonly prisma: PrismaService,
    private readonly passwords: PasswordHasher,
    private readonly tokens: AccessTokens,
    private readonly cache: AuthCacheStore,
  ) {}

  /**
   * Unknown email, wrong password and disabled user all give the same 401 after the same work
   * (one scrypt verification, against a dummy hash for an unknown email). PostgreSQL down → 503.
   */
  async login(email: string, password: string): Promise<LoginResult> {
    const user = await postgres(() =>
      this.prisma.user.findUnique({ where: { email }, select: { ...USER_STATE_SELECT, passwordHash: true } }),
    );
    if (!user) {
      await this.passwords.verifyDummy(password);
      this.logger.warn({ reason: 'unknown email' }, 'login failed');
      throw invalidCredentials();
    }
    const matches = await this.passwords.verify(password, user.passwordHash);
    if (!matches || user.status !== 'ACTIVE') {
      this.logger.warn({ userId: user.id, reason: matches ? 'user disabled' : 'wrong password' }, 'login failed');
      throw invalidCredentials();
    }
    // Warm the shared cache so the first request with this token on any replica skips PostgreSQL.
    this.cache.putUser(userSnapshot(user)).catch(() => undefined);
    const { token, expiresIn } = await this.tokens.issue(user);
    this.logger.log({ userId: user.id }, 'login');
    return { token, expiresIn, user: { id: user.id, email: user.email, name: user.name, role: user.role } };
  }
}
