import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { ApiError } from '../../common/http/api-error';
import { CurrentPrincipal } from '../decorators/current-principal.decorator';
import { Roles } from '../decorators/roles.decorator';
import { JwtAuthGuard } from '../guards/jwt-auth.guard';
import { RolesGuard } from '../guards/roles.guard';
import type { Principal } from '../principal';
import { AuthRateLimitGuard } from '../rate-limit/auth-rate-limit.guard';
import { uuidOr404 } from '../uuid-param';
import { ApiKeysService, ApiKeyView, CreatedApiKey } from './api-keys.service';
import { CreateApiKeyDto } from './dto/create-api-key.dto';
import { ListApiKeysQuery } from './dto/list-api-keys.query';

/** API key management: OPERATOR and ADMIN, with a JWT. Keys belong to the caller. */
@Controller('api/auth/api-keys')
@UseGuards(AuthRateLimitGuard, JwtAuthGuard, RolesGuard)
@Roles('OPERATOR')
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  /** 201 with the key (`evp_…`): shown this once only. */
  @Post()
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateApiKeyDto): Promise<{ success: true; data: CreatedApiKey }> {
    return { success: true, data: await this.apiKeys.create(principal.userId, body) };
  }

  /** The caller's keys, without secrets; an ADMIN may pass `?userId=` to see another user's. */
  @Get()
  async list(@CurrentPrincipal() principal: Principal, @Query() query: ListApiKeysQuery): Promise<{ success: true; data: ApiKeyView[] }> {
    const userId = query.userId ?? principal.userId;
    if (userId !== principal.userId && principal.role !== 'ADMIN') throw ApiError.forbidden();
    return { success: true, data: await this.apiKeys.list(userId) };
  }

  /** 204; the key is refused by every API process within 1 s. Another user's key → 404 (ADMIN: any key). */
  @Delete(':id')
  @HttpCode(204)
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id') id: string): Promise<void> {
    await this.apiKeys.revoke(uuidOr404(id, 'API key'), { userId: principal.userId, isAdmin: principal.role === 'ADMIN' });
  }
}
