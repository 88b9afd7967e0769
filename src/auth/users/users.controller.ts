import { Body, Controller, Get, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { Roles } from '../decorators/roles.decorator';
import { JwtAuthGuard } from '../guards/jwt-auth.guard';
import { RolesGuard } from '../guards/roles.guard';
import { AuthRateLimitGuard } from '../rate-limit/auth-rate-limit.guard';
import { uuidOr404 } from '../uuid-param';
import { CreateUserDto } from './dto/create-user.dto';
import { UpdateUserDto } from './dto/update-user.dto';
import { UserView } from './user.view';
import { UsersService } from './users.service';

/** User management: ADMIN only, with a JWT. */
@Controller('api/auth/users')
@UseGuards(AuthRateLimitGuard, JwtAuthGuard, RolesGuard)
@Roles('ADMIN')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  async create(@Body() body: CreateUserDto): Promise<{ success: true; data: UserView }> {
    return { success: true, data: await this.users.create(body) };
  }

  @Get()
  async list(): Promise<{ success: true; data: UserView[] }> {
    return { success: true, data: await this.users.list() };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<{ success: true; data: UserView }> {
    return { success: true, data: await this.users.get(uuidOr404(id, 'User')) };
  }

  /** Change role, disable/enable (`status`), rename, reset password. */
  @Patch(':id')
  async update(@Param('id') id: string, @Body() body: UpdateUserDto): Promise<{ success: true; data: UserView }> {
    return { success: true, data: await this.users.update(uuidOr404(id, 'User'), body) };
  }
}
