/**
 * JSON Schemas of the ingestion hot path (contract §4), compiled once by AJV in EventValidator.
 * Formats that JSON Schema cannot express fully (a real calendar date, "not more than 24 h in
 * the future", the 32 KiB serialized size) are checked in code right after the schema.
 */

/** Largest accepted event, measured as the UTF-8 bytes of its stored JSON, on both routes. */
export const MAX_EVENT_BYTES = 32 * 1024;
/**
 * Body limit of the single-event route. The 32 KiB rule is judged on the stored JSON (as in a
 * batch), which can be much smaller than the body: a JSON escape such as \u00e9 takes 6 bytes for
 * a 2-byte character, and unknown top-level fields are dropped. With the body limit at 32 KiB an
 * event accepted inside a batch got 413 alone.
 */
export const MAX_SINGLE_BODY_BYTES = 6 * MAX_EVENT_BYTES;
export const MAX_BATCH_EVENTS = 1000;
/** How far in the future a client clock may be (contract §4). */
export const MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_PRIORITY = 1;
/**
 * Deepest nesting of `metadata` / `payload` (the object itself is level 1). MongoDB refuses
 * documents nested deeper than 100 levels; refusing early keeps such events out of the DLQ.
 */
export const MAX_NESTING_DEPTH = 32;

export const EVENT_TYPE_PATTERN = '^[a-zA-Z][a-zA-Z0-9_.:-]*$';
export const EVENT_ID_PATTERN = '^[A-Za-z0-9_.:-]+$';

/**
 * RFC 3339 date-time (the JSON Schema `date-time` format): an offset is required, because a
 * zone-less time would be read as local time by whichever process parses it next.
 */
export const TIMESTAMP_PATTERN = '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$';

/**
 * One event. `additionalProperties: false` together with AJV's `removeAdditional` drops unknown
 * top-level fields instead of failing on them; `metadata`/`payload` are free-form objects.
 */
export const eventSchema = {
  type: 'object',
  required: ['eventType', 'userId', 'sessionId', 'timestamp'],
  additionalProperties: false,
  properties: {
    eventId: { type: 'string', minLength: 1, maxLength: 128, pattern: EVENT_ID_PATTERN },
    eventType: { type: 'string', minLength: 1, maxLength: 100, pattern: EVENT_TYPE_PATTERN },
    userId: { type: 'string', minLength: 1, maxLength: 128 },
    sessionId: { type: 'string', minLength: 1, maxLength: 128 },
    timestamp: { type: 'string', maxLength: 40, pattern: TIMESTAMP_PATTERN },
    metadata: { type: 'object' },
    payload: { type: 'object' },
    priority: { type: 'integer', minimum: 0, maximum: 10, default: DEFAULT_PRIORITY },
  },
} as const;

/** The batch envelope; its items are validated one by one with `eventSchema`. */
export const batchEnvelopeSchema = {
  type: 'object',
  required: ['events'],
  properties: {
    events: { type: 'array', minItems: 1, maxItems: MAX_BATCH_EVENTS },
  },
} as const;
