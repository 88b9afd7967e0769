import { ArrayMaxSize, ArrayMinSize, Equals, IsArray, IsOptional, IsString, Length } from 'class-validator';

/** Either `ids` (up to 1000 DLQ ids) or `all: true`. */
export class ReplayDlqDto {
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @Length(1, 300, { each: true })
  ids?: string[];

  @IsOptional()
  @Equals(true, { message: 'all must be true when given' })
  all?: true;
}
