import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Matches, Max, MaxLength, Min } from 'class-validator';
import { PRESET_RANGES, PresetRange } from '../time-window';

/** Same rule as ingestion (contract §4), so a filter can only name a type that can exist. */
export const EVENT_TYPE_PATTERN = /^[a-zA-Z][a-zA-Z0-9_.:-]*$/;
const ISO = { strict: true, strictSeparator: true } as const;

class RangeQuery {
  @IsOptional()
  @IsISO8601(ISO, { message: 'from must be an ISO 8601 date-time' })
  from?: string;

  @IsOptional()
  @IsISO8601(ISO, { message: 'to must be an ISO 8601 date-time' })
  to?: string;
}

export class MetricsQueryDto extends RangeQuery {
  @IsOptional()
  @IsIn(Object.keys(PRESET_RANGES), { message: `timeRange must be one of ${Object.keys(PRESET_RANGES).join(', ')}` })
  timeRange?: PresetRange;

  @IsOptional()
  @IsString()
  @Length(1, 100)
  @Matches(EVENT_TYPE_PATTERN, { message: 'eventType must match ^[a-zA-Z][a-zA-Z0-9_.:-]*$' })
  eventType?: string;

  @IsOptional()
  @IsString()
  @Length(1, 128)
  userId?: string;
}

export const INTERVALS = ['minute', 'hour', 'day'] as const;
export type Interval = (typeof INTERVALS)[number];

export class TimeseriesQueryDto extends RangeQuery {
  @IsOptional()
  @IsIn(INTERVALS, { message: 'interval must be one of minute, hour, day' })
  interval?: Interval;

  @IsOptional()
  @IsString()
  @Length(1, 100)
  @Matches(EVENT_TYPE_PATTERN, { message: 'eventType must match ^[a-zA-Z][a-zA-Z0-9_.:-]*$' })
  eventType?: string;
}

export class UserEventsQueryDto extends RangeQuery {
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer from 1 to 1000' })
  @Min(1, { message: 'limit must be an integer from 1 to 1000' })
  @Max(1000, { message: 'limit must be an integer from 1 to 1000' })
  limit?: number;

  @IsOptional()
  @IsString()
  @MaxLength(512)
  cursor?: string;
}
