import { IsOptional, IsUUID } from 'class-validator';

/** GET /api/auth/api-keys: the caller's keys; an ADMIN may name another user. */
export class ListApiKeysQuery {
  @IsOptional()
  @IsUUID()
  userId?: string;
}
