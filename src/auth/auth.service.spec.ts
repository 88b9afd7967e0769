import { Logger } from '@nestjs/common';
import { ApiError } from '../common/http/api-error';
import type { PrismaService } from '../prisma/prisma.service';
import { AuthService } from './auth.service';
import type { AuthCacheStore } from './cache/auth-cache.store';
import type { AccessTokens } from './jwt/access-tokens';
import { PasswordHasher } from './passwords/password-hasher';

describe('AuthService.login', () => {
  const hasher = new PasswordHasher({ N: 1024, r: 8, p: 1 });
  let storedHash: string;
  const rows: Record<string, unknown> = {};
  const prisma = {
    user: { findUnique: jest.fn(async ({ where }: { where: { email: string } }) => rows[where.email] ?? null) },
  } as unknown as PrismaService;
  const tokens = { issue: jest.fn(async () => ({ token: 'signed', expiresIn: 86400 })) } as unknown as AccessTokens;
  const cache = { putUser: jest.fn(async () => true) } as unknown as AuthCacheStore;
  const service = new AuthService(prisma, hasher, tokens, cache);

  beforeAll(async () => {
    Logger.overrideLogger(false);
    storedHash = await hasher.hash('the right password');
    const base = { id: '0b7c1d2e-0000-4000-8000-000000000001', name: 'A', role: 'OPERATOR', authVersion: 0, sessionVersion: 0, passwordHash: storedHash };
    rows['active@x.io'] = { ...base, email: 'active@x.io', status: 'ACTIVE' };
    rows['disabled@x.io'] = { ...base, email: 'disabled@x.io', status: 'DISABLED' };
  });

  async function failure(email: string, password: string): Promise<unknown> {
    try {
      await service.login(email, password);
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      return (err as ApiError).getResponse();
    }
    throw new Error('login should have failed');
  }

  it('returns a token and the user (no hash) for the right password', async () => {
    const result = await service.login('active@x.io', 'the right password');
    expect(result).toEqual({ token: 'signed', expiresIn: 86400, user: { id: expect.any(String), email: 'active@x.io', name: 'A', role: 'OPERATOR' } });
    expect(JSON.stringify(result)).not.toContain(storedHash);
  });

  it('unknown email, wrong password and disabled user fail identically, and all run one scrypt verification', async () => {
    const verify = jest.spyOn(hasher, 'verify');
    const unknown = await failure('nobody@x.io', 'the right password');
    expect(verify).toHaveBeenCalledTimes(1); // the dummy verification: same work as a real one
    const wrong = await failure('active@x.io', 'a wrong password');
    expect(verify).toHaveBeenCalledTimes(2);
    const disabled = await failure('disabled@x.io', 'the right password');
    expect(verify).toHaveBeenCalledTimes(3);
    expect(unknown).toEqual(wrong);
    expect(disabled).toEqual(wrong);
    expect(wrong).toEqual({ success: false, error: { code: 'UNAUTHORIZED', message: 'Invalid email or password' } });
    verify.mockRestore();
  });
});
