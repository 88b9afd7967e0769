import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { ApiError } from '../../common/http/api-error';
import { ErrorCode } from '../../common/http/error-codes';
import { PrismaService } from '../../prisma/prisma.service';
import { AuthCacheInvalidator } from '../cache/auth-cache-invalidator';
import { PasswordHasher } from '../passwords/password-hasher';
import type { Role } from '../principal';
import { isUniqueViolation, postgres } from '../prisma-errors';
import { USER_VIEW_SELECT, UserView } from './user.view';

export interface NewUser {
  email: string;
  password: string;
  role: Role;
  name?: string;
}

export interface UserChanges {
  role?: Role;
  status?: 'ACTIVE' | 'DISABLED';
  name?: string;
  password?: string;
}

/** Serialises changes that could remove the last active ADMIN (pg advisory lock key). */
const ADMIN_CHANGE_LOCK = 0x65767061; // 'evpa'

/** User management (ADMIN endpoints and the operator CLI). */
@Injectable()
export class UsersService {
  private readonly logger = new Logger('auth');

  constructor(
    private readonly prisma: PrismaService,
    private readonly passwords: PasswordHasher,
    private readonly invalidator: AuthCacheInvalidator,
  ) {}

  async create(input: NewUser): Promise<UserView> {
    const email = input.email.trim().toLowerCase();
    const passwordHash = await this.passwords.hash(input.password);
    try {
      const user = await postgres(() =>
        this.prisma.user.create({
          data: { email, name: input.name ?? email.split('@')[0], passwordHash, role: input.role },
          select: USER_VIEW_SELECT,
        }),
      );
      this.logger.log({ userId: user.id, role: user.role }, 'user created');
      return user;
    } catch (err) {
      if (isUniqueViolation(err)) throw new ApiError(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'A user with this email exists');
      throw err;
    }
  }

  async list(): Promise<UserView[]> {
    return postgres(() => this.prisma.user.findMany({ select: USER_VIEW_SELECT, orderBy: { createdAt: 'asc' } }));
  }

  async get(id: string): Promise<UserView> {
    const user = await postgres(() => this.prisma.user.findUnique({ where: { id }, select: USER_VIEW_SELECT }));
    if (!user) throw ApiError.notFound('User not found');
    return user;
  }

  async findByEmail(email: string): Promise<UserView | null> {
    return postgres(() => this.prisma.user.findUnique({ where: { email: email.trim().toLowerCase() }, select: USER_VIEW_SELECT }));
  }

  /** True when at least one ACTIVE ADMIN exists. */
  async activeAdminExists(): Promise<boolean> {
    return (await postgres(() => this.prisma.user.count({ where: { role: 'ADMIN', status: 'ACTIVE' } }))) > 0;
  }

  /**
   * Applies role/status/name/password changes, bumps the user's auth version and republishes the
   * user to the caches: a disabled user's tokens and keys stop working within 1 s, a new role
   * applies to tokens already issued. The last active ADMIN cannot be demoted or disabled (409).
   */
  async update(id: string, changes: UserChanges): Promise<UserView> {
    const passwordHash = changes.password !== undefined ? await this.passwords.hash(changes.password) : undefined;
    const user = await postgres(() =>
      this.prisma.$transaction(async (tx) => {
        const current = await tx.user.findUnique({ where: { id }, select: { role: true, status: true } });
        if (!current) throw ApiError.notFound('User not found');
        const losesAdmin =
          current.role === 'ADMIN' &&
          current.status === 'ACTIVE' &&
          ((changes.role !== undefined && changes.role !== 'ADMIN') || changes.status === 'DISABLED');
        if (losesAdmin) {
          await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ADMIN_CHANGE_LOCK})`;
          const others = await tx.user.count({ where: { role: 'ADMIN', status: 'ACTIVE', id: { not: id } } });
          if (others === 0) {
            throw new ApiError(HttpStatus.CONFLICT, ErrorCode.CONFLICT, 'At least one active ADMIN must remain');
          }
        }
        return tx.user.update({
          where: { id },
          data: {
            ...(changes.role !== undefined ? { role: changes.role } : {}),
            ...(changes.status !== undefined ? { status: changes.status } : {}),
            ...(changes.name !== undefined ? { name: changes.name } : {}),
            ...(passwordHash !== undefined ? { passwordHash } : {}),
            authVersion: { increment: 1 },
            // Ends the user's JWTs (AccessTokens.verify); a role change applies to them instead, and
            // so does re-sending the status the user already has (an idempotent PATCH ends nothing).
            ...(passwordHash !== undefined || (changes.status !== undefined && changes.status !== current.status)
              ? { sessionVersion: { increment: 1 } }
              : {}),
          },
          select: USER_VIEW_SELECT,
        });
      }),
    );
    await this.invalidator.userChanged(id);
    this.logger.log(
      { userId: id, role: user.role, status: user.status, passwordChanged: passwordHash !== undefined },
      'user updated',
    );
    return user;
  }
}
