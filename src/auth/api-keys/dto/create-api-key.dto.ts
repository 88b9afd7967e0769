import { Type } from 'class-transformer';
import { IsDate, IsOptional, IsString, Matches, MaxLength, MinDate, MinLength } from 'class-validator';

/** POST /api/auth/api-keys. The key belongs to the caller; `role`, `userId` etc. are stripped. */
export class CreateApiKeyDto {
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(/^[^\p{Cc}]*$/u, { message: 'name must not contain control characters' })
  name!: string;

  /** ISO 8601 date-time in the future; absent = never expires. */
  @IsOptional()
  @Type(() => Date)
  @IsDate({ message: 'expiresAt must be an ISO 8601 date-time' })
  @MinDate(() => new Date(), { message: 'expiresAt must be in the future' })
  expiresAt?: Date;
}
