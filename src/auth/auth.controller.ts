import { Body, Controller, Get, HttpCode, Post, UseGuards } from '@nestjs/common';
import { ApiError } from '../common/http/api-error';
import { AuthService, LoginResult } from './auth.service';
import { UserStateReader } from './credentials/user-state.reader';
import { CurrentPrincipal } from './decorators/current-principal.decorator';
import { LoginDto } from './dto/login.dto';
import { ApiKeyOrJwtGuard } from './guards/api-key-or-jwt.guard';
import type { Principal } from './principal';
import { AuthRateLimitGuard } from './rate-limit/auth-rate-limit.guard';

@Controller('api/auth')
@UseGuards(AuthRateLimitGuard)
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly users: UserStateReader,
  ) {}

  @Post('login')
  @HttpCode(200)
  async login(@Body() body: LoginDto): Promise<{ success: true; data: LoginResult }> {
    return { success: true, data: await this.auth.login(body.email, body.password) };
  }

  /** The caller: with a JWT the logged-in user, with an API key the key's owner. */
  @Get('me')
  @UseGuards(ApiKeyOrJwtGuard)
  async me(@CurrentPrincipal() principal: Principal) {
    const user = await this.users.get(principal.userId);
    if (!user) throw ApiError.unauthorized();
    return {
      success: true,
      data: {
        id: user.id,
        email: user.email,
        name: user.name,
        role: user.role,
        status: user.status,
        auth: { kind: principal.kind, ...(principal.apiKeyId ? { apiKeyId: principal.apiKeyId } : {}) },
      },
    };
  }
}
