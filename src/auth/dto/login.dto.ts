import { IsEmail, IsString, MaxLength, MinLength } from 'class-validator';
import { EMAIL_MAX_LENGTH, PASSWORD_MAX_LENGTH } from '../auth.constants';
import { EMAIL_OPTIONS, NormalizeEmail } from './email.transform';

/** POST /api/auth/login. Anything else in the body (e.g. `role`) is stripped by the ValidationPipe. */
export class LoginDto {
  @NormalizeEmail()
  @MaxLength(EMAIL_MAX_LENGTH)
  @IsEmail(EMAIL_OPTIONS)
  email!: string;

  // No minimum here: a short password simply fails to match (no hint about the policy).
  @IsString()
  @MinLength(1)
  @MaxLength(PASSWORD_MAX_LENGTH)
  password!: string;
}
