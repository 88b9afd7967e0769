import { IsEmail, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../auth.constants';
import { EMAIL_OPTIONS, NormalizeEmail } from '../../dto/email.transform';
import { Role, ROLES } from '../../principal';

/** POST /api/auth/users (ADMIN). */
export class CreateUserDto {
  @NormalizeEmail()
  @MaxLength(EMAIL_MAX_LENGTH)
  @IsEmail(EMAIL_OPTIONS)
  email!: string;

  @IsString()
  @MinLength(PASSWORD_MIN_LENGTH)
  @MaxLength(PASSWORD_MAX_LENGTH)
  password!: string;

  @IsIn(ROLES)
  role!: Role;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^[^\p{Cc}]*$/u, { message: 'name must not contain control characters' })
  name?: string;
}
