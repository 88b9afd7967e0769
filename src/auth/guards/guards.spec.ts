import { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError } from '../../common/http/api-error';
import { AccessTokenVerifier, ApiKeyVerifier } from '../credentials/credential-verifiers';
import { Roles } from '../decorators/roles.decorator';
import type { Principal, RequestWithPrincipal } from '../principal';
import { ApiKeyOrJwtGuard } from './api-key-or-jwt.guard';
import { ApiKeyGuard } from './api-key.guard';
import { bearerTokenFrom } from './credentials';
import { JwtAuthGuard } from './jwt-auth.guard';
import { RolesGuard } from './roles.guard';

const KEY_PRINCIPAL: Principal = { kind: 'apiKey', userId: 'u1', role: 'VIEWER', apiKeyId: 'k1' };
const USER_PRINCIPAL: Principal = { kind: 'user', userId: 'u2', role: 'OPERATOR', email: 'o@x' };

class FakeKeys extends ApiKeyVerifier {
  verify = jest.fn(async (key: string) => (key === 'good-key' ? KEY_PRINCIPAL : null));
}
class FakeTokens extends AccessTokenVerifier {
  verify = jest.fn(async (token: string) => (token === 'good.token.sig' ? USER_PRINCIPAL : null));
}

type Req = RequestWithPrincipal & { headers: Record<string, string> };
function ctx(req: Req, handler: () => void = () => undefined, cls: new () => unknown = class {}): ExecutionContext {
  return {
    switchToHttp: () => ({ getRequest: () => req }),
    getHandler: () => handler,
    getClass: () => cls,
  } as unknown as ExecutionContext;
}
async function errorCode(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    return `${e.getStatus()} ${e.code}`;
  }
  throw new Error('expected an ApiError');
}

describe('ApiKeyGuard', () => {
  it('401 MISSING_API_KEY without the header, INVALID_API_KEY for a bad key, principal for a good one', async () => {
    const guard = new ApiKeyGuard(new FakeKeys());
    expect(await errorCode(guard.canActivate(ctx({ headers: {} })))).toBe('401 MISSING_API_KEY');
    expect(await errorCode(guard.canActivate(ctx({ headers: { 'x-api-key': '  ' } })))).toBe('401 MISSING_API_KEY');
    expect(await errorCode(guard.canActivate(ctx({ headers: { 'x-api-key': 'bad' } })))).toBe('401 INVALID_API_KEY');
    const req: Req = { headers: { 'x-api-key': 'good-key' } };
    await expect(guard.canActivate(ctx(req))).resolves.toBe(true);
    expect(req.principal).toEqual(KEY_PRINCIPAL);
  });
});

describe('JwtAuthGuard', () => {
  it('401 UNAUTHORIZED for missing, malformed or invalid tokens; sets the user principal', async () => {
    const guard = new JwtAuthGuard(new FakeTokens());
    for (const headers of [{} as Record<string, string>, { authorization: 'Basic abc' }, { authorization: 'Bearer' }, { authorization: 'Bearer bad.token.sig' }]) {
      expect(await errorCode(guard.canActivate(ctx({ headers })))).toBe('401 UNAUTHORIZED');
    }
    const req: Req = { headers: { authorization: 'bearer good.token.sig' } };
    await expect(guard.canActivate(ctx(req))).resolves.toBe(true);
    expect(req.principal).toEqual(USER_PRINCIPAL);
  });
});

describe('ApiKeyOrJwtGuard', () => {
  it('takes the API key when present (even with a token), else the JWT, else 401 UNAUTHORIZED', async () => {
    const keys = new FakeKeys();
    const tokens = new FakeTokens();
    const guard = new ApiKeyOrJwtGuard(keys, tokens);
    const both: Req = { headers: { 'x-api-key': 'good-key', authorization: 'Bearer good.token.sig' } };
    await guard.canActivate(ctx(both));
    expect(both.principal).toEqual(KEY_PRINCIPAL);
    const jwtOnly: Req = { headers: { authorization: 'Bearer good.token.sig' } };
    await guard.canActivate(ctx(jwtOnly));
    expect(jwtOnly.principal).toEqual(USER_PRINCIPAL);
    expect(await errorCode(guard.canActivate(ctx({ headers: { 'x-api-key': 'bad', authorization: 'Bearer good.token.sig' } })))).toBe(
      '401 INVALID_API_KEY',
    );
    expect(await errorCode(guard.canActivate(ctx({ headers: {} })))).toBe('401 UNAUTHORIZED');
    expect(await errorCode(guard.canActivate(ctx({ headers: { authorization: 'Bearer bad.token.sig' } })))).toBe('401 UNAUTHORIZED');
  });
});

describe('RolesGuard', () => {
  class Handlers {
    @Roles('OPERATOR')
    operator(): void {}
    @Roles('ADMIN')
    admin(): void {}
    open(): void {}
  }
  @Roles('VIEWER')
  class ViewerController {
    @Roles('ADMIN')
    admin(): void {}
    any(): void {}
  }
  const guard = new RolesGuard(new Reflector());
  const as = (role: Principal['role']): Req => ({ headers: {}, principal: { kind: 'user', userId: 'u', role } });

  it('admits the listed role and every higher one; 403 below; 401 without a principal', async () => {
    const h = Handlers.prototype;
    expect(guard.canActivate(ctx(as('OPERATOR'), h.operator))).toBe(true);
    expect(guard.canActivate(ctx(as('ADMIN'), h.operator))).toBe(true);
    expect(await errorCode(() => guard.canActivate(ctx(as('VIEWER'), h.operator)))).toBe('403 FORBIDDEN');
    expect(await errorCode(() => guard.canActivate(ctx(as('OPERATOR'), h.admin)))).toBe('403 FORBIDDEN');
    expect(guard.canActivate(ctx(as('VIEWER'), h.open))).toBe(true);
    expect(await errorCode(() => guard.canActivate(ctx({ headers: {} }, h.operator)))).toBe('401 UNAUTHORIZED');
  });

  it('a method-level @Roles overrides the controller-level one', async () => {
    const v = ViewerController.prototype;
    expect(guard.canActivate(ctx(as('VIEWER'), v.any, ViewerController))).toBe(true);
    expect(await errorCode(() => guard.canActivate(ctx(as('OPERATOR'), v.admin, ViewerController)))).toBe('403 FORBIDDEN');
  });
});

describe('bearerTokenFrom', () => {
  it('distinguishes absent (undefined) from malformed (null)', () => {
    expect(bearerTokenFrom({})).toBeUndefined();
    expect(bearerTokenFrom({ authorization: 'Token abc' })).toBeNull();
    expect(bearerTokenFrom({ authorization: 'Bearer a.b.c' })).toBe('a.b.c');
  });
});
