import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, UseGuards } from '@nestjs/common';
import { Roles } from '../auth/decorators/roles.decorator';
import { JwtAuthGuard } from '../auth/guards/jwt-auth.guard';
import { RolesGuard } from '../auth/guards/roles.guard';
import { DlqPage, DlqService, ReplayResult } from './dlq.service';
import { ListDlqQuery } from './dto/list-dlq.query';
import { ReplayDlqDto } from './dto/replay-dlq.dto';

/** Dead-letter queue management (contract §6): OPERATOR and ADMIN, with a JWT. */
@Controller('api/v1/dlq')
@UseGuards(JwtAuthGuard, RolesGuard)
@Roles('OPERATOR')
export class DlqController {
  constructor(private readonly dlq: DlqService) {}

  /** Newest first; `nextCursor` pages on. */
  @Get()
  async list(@Query() query: ListDlqQuery): Promise<{ success: true; data: DlqPage }> {
    return { success: true, data: await this.dlq.list(query.limit, query.cursor) };
  }

  /** 202: the entries are back in the stream; the worker stores them (or dead-letters them again). */
  @Post('replay')
  @HttpCode(202)
  async replay(@Body() body: ReplayDlqDto): Promise<{ success: true; data: ReplayResult }> {
    return { success: true, data: await this.dlq.replay(body) };
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id') id: string): Promise<void> {
    await this.dlq.remove(id);
  }
}
