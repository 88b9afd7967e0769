import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { JWT_TTL_SECONDS } from '../auth.constants';
import { UserStateReader } from '../credentials/user-state.reader';
import { AccessTokenVerifier } from '../credentials/credential-verifiers';
import type { Principal, Role } from '../principal';

/** Only HS256 is ever accepted: `none`, RS256/ES256 and other HMAC sizes are refused. */
export const JWT_ALGORITHMS = ['HS256'] as const;

export interface AccessTokenClaims {
  sub: string;
  email: string;
  /** Informational: authorisation always uses the user's current role (UserStateReader). */
  role: Role;
  /**
   * users.session_version at issue. A password reset or a status change bumps it and so ends the
   * tokens issued before: neither may leave a stolen token working until it expires (a disabled
   * user's tokens used to work again once the user was enabled). Role changes apply to issued
   * tokens as they are.
   */
  sv: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Issues and verifies the HS256 bearer tokens of dashboard users. */
@Injectable()
export class AccessTokens extends AccessTokenVerifier {
  constructor(
    private readonly jwt: JwtService,
    private readonly users: UserStateReader,
  ) {
    super();
  }

  async issue(user: { id: string; email: string; role: Role; sessionVersion: number }): Promise<{ token: string; expiresIn: number }> {
    const claims: AccessTokenClaims = { sub: user.id, email: user.email, role: user.role, sv: user.sessionVersion };
    const token = await this.jwt.signAsync(claims, { algorithm: 'HS256', expiresIn: JWT_TTL_SECONDS });
    return { token, expiresIn: JWT_TTL_SECONDS };
  }

  async verify(token: string): Promise<Principal | null> {
    let claims: Partial<AccessTokenClaims>;
    try {
      claims = await this.jwt.verifyAsync<AccessTokenClaims>(token, { algorithms: [...JWT_ALGORITHMS] });
    } catch {
      // Expired, tampered, wrong secret, wrong algorithm, malformed: all the same 401.
      return null;
    }
    if (typeof claims.sub !== 'string' || !UUID.test(claims.sub)) return null;
    if (typeof claims.sv !== 'number' || !Number.isSafeInteger(claims.sv) || claims.sv < 0) return null;
    const user = await this.users.get(claims.sub, claims.sv);
    if (!user || user.status !== 'ACTIVE' || user.sessionVersion !== claims.sv) return null;
    return { kind: 'user', userId: user.id, role: user.role, email: user.email };
  }
}
