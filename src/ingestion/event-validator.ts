import { Injectable } from '@nestjs/common';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { ErrorDetail } from '../common/http/error-codes';
import { IngestedEvent } from '../events/event.types';
import { uuidv7 } from './uuid-v7';
import { batchEnvelopeSchema, eventSchema, MAX_EVENT_BYTES, MAX_FUTURE_SKEW_MS, MAX_NESTING_DEPTH } from './schemas/event.schema';

/** An event ready to append: serialized once, here. */
export interface PreparedEvent {
  ok: true;
  event: IngestedEvent;
  /** False for server-generated ids (UUIDv7): those can never repeat, so they need no dedup key. */
  clientEventId: boolean;
  /** `JSON.stringify(event)`: the event field of the stream entry, exactly as encodeStreamEntry writes it. */
  json: string;
}

export interface RejectedEvent {
  ok: false;
  /** The client's eventId when it sent a usable one, so it can match the result to its event. */
  eventId: string | null;
  details: ErrorDetail[];
  /** The event is valid but over MAX_EVENT_BYTES (413 on the single-event route). */
  tooLarge: boolean;
}

export interface EventContext {
  apiKeyId: string | null;
  /** Server receive time (epoch ms), also the reference for the 24 h future check. */
  receivedAt: number;
}

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Hot-path validation: JSON Schemas compiled once by AJV (no class-transformer per event).
 * AJV mutates its input: unknown top-level fields are removed and `priority` defaulted.
 */
@Injectable()
export class EventValidator {
  /** Stops at the first error: the happy path pays for one pass only. */
  private readonly validateEvent: ValidateFunction;
  /** Collects every error, run only to explain a rejected event. */
  private readonly explainEvent: ValidateFunction;
  private readonly validateEnvelope: ValidateFunction;

  constructor() {
    // No type coercion: "5" is not a priority and 42 is not a userId.
    const options = { removeAdditional: true, useDefaults: true, coerceTypes: false, strict: true } as const;
    this.validateEvent = new Ajv({ ...options, allErrors: false }).compile(eventSchema);
    const explaining = new Ajv({ ...options, allErrors: true });
    this.explainEvent = explaining.compile(eventSchema);
    this.validateEnvelope = explaining.compile(batchEnvelopeSchema);
  }

  /** The batch envelope `{events: [1..1000]}`; returns the per-field problems (empty when valid). */
  checkEnvelope(body: unknown): ErrorDetail[] {
    return this.validateEnvelope(body) ? [] : toDetails(this.validateEnvelope.errors);
  }

  prepare(raw: unknown, ctx: EventContext): PreparedEvent | RejectedEvent {
    if (!this.validateEvent(raw)) {
      this.explainEvent(raw);
      return { ok: false, eventId: usableEventId(raw), details: toDetails(this.explainEvent.errors, 'event'), tooLarge: false };
    }
    const input = raw as Omit<IngestedEvent, 'eventId'> & { eventId?: string };
    const problem = timestampProblem(input.timestamp, ctx.receivedAt);
    if (problem) return { ok: false, eventId: input.eventId ?? null, details: [{ field: 'timestamp', message: problem }], tooLarge: false };

    for (const field of ['metadata', 'payload'] as const) {
      if (input[field] === undefined) continue;
      const message = nestedDeeperThan(input[field], MAX_NESTING_DEPTH)
        ? `must not be nested deeper than ${MAX_NESTING_DEPTH} levels`
        : // FerretDB v1 refuses arrays directly inside arrays; refusing here beats a 202 that can only end in the DLQ.
          hasArrayInArray(input[field], MAX_NESTING_DEPTH)
          ? 'must not contain arrays directly inside arrays'
          : undefined;
      if (message) return { ok: false, eventId: input.eventId ?? null, details: [{ field, message }], tooLarge: false };
    }

    const clientEventId = input.eventId !== undefined;
    // A fixed field order and one object shape; JSON.stringify leaves out the undefined optional fields.
    const event: IngestedEvent = {
      eventId: input.eventId ?? uuidv7(),
      eventType: input.eventType,
      userId: input.userId,
      sessionId: input.sessionId,
      timestamp: input.timestamp,
      metadata: input.metadata,
      payload: input.payload,
      priority: input.priority,
    };
    const json = JSON.stringify(event);
    // U+0000 cannot be stored (PostgreSQL text refuses it) and a lone surrogate is silently
    // replaced by U+FFFD on the way to storage: refuse both rather than accept what we cannot keep
    // exactly. JSON.stringify writes them as \u escapes, so the common case costs one indexOf.
    if (json.indexOf('\\u') !== -1 && UNSTORABLE_ESCAPE.test(json)) {
      return {
        ok: false,
        eventId: input.eventId ?? null,
        details: [{ field: 'event', message: 'strings must not contain U+0000 or unpaired surrogates' }],
        tooLarge: false,
      };
    }
    // Cheap bound first: UTF-8 needs at most 3 bytes per UTF-16 unit.
    if (json.length * 3 > MAX_EVENT_BYTES && Buffer.byteLength(json, 'utf8') > MAX_EVENT_BYTES) {
      return {
        ok: false,
        eventId: input.eventId ?? null,
        details: [{ field: 'event', message: `must be at most ${MAX_EVENT_BYTES} bytes of JSON` }],
        tooLarge: true,
      };
    }
    return { ok: true, event, clientEventId, json };
  }
}

/**
 * Why an RFC 3339 string (already matched by the schema pattern) is not an acceptable timestamp.
 * Computed from its parts with Date.UTC: Date.parse is slower and rolls 30 February over to March.
 */
export function timestampProblem(ts: string, now: number): string | undefined {
  const year = Number(ts.slice(0, 4));
  const month = Number(ts.slice(5, 7));
  const day = Number(ts.slice(8, 10));
  const hour = Number(ts.slice(11, 13));
  const minute = Number(ts.slice(14, 16));
  const second = Number(ts.slice(17, 19));
  let i = 19;
  let millis = 0;
  if (ts.charCodeAt(i) === 46 /* . */) {
    const digits = /^\.(\d+)/.exec(ts.slice(i))![1];
    millis = Number(digits.slice(0, 3).padEnd(3, '0'));
    i += 1 + digits.length;
  }
  let offsetMinutes = 0;
  const zone = ts.charCodeAt(i);
  if (zone === 43 /* + */ || zone === 45 /* - */) {
    const oh = Number(ts.slice(i + 1, i + 3));
    const om = Number(ts.slice(i + 4, i + 6));
    if (oh > 23 || om > 59) return INVALID_DATE_TIME;
    offsetMinutes = (zone === 45 ? -1 : 1) * (oh * 60 + om);
  }
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const validDay = month >= 1 && month <= 12 && day >= 1 && day <= (month === 2 && !leap ? 28 : DAYS_IN_MONTH[month - 1]);
  if (!validDay || hour > 23 || minute > 59 || second > 59) return INVALID_DATE_TIME;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
  if (ms - now > MAX_FUTURE_SKEW_MS) return 'must not be more than 24 hours in the future';
  return undefined;
}

const INVALID_DATE_TIME = 'must be a valid ISO 8601 date-time';

/**
 * True when `value` (an object counting as level 1) has containers nested deeper than `limit`.
 * Stops at the limit, so a hostile 16k-level body costs `limit` steps.
 */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit <= 0) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (nestedDeeperThan(v, limit - 1)) return true;
    return false;
  }
  for (const k in value) {
    if (Object.prototype.hasOwnProperty.call(value, k) && nestedDeeperThan((value as Record<string, unknown>)[k], limit - 1)) return true;
  }
  return false;
}

/** A JSON escape of U+0000 or of a lone surrogate, not itself preceded by an escaped backslash. */
const UNSTORABLE_ESCAPE = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/** True when an array holds another array anywhere below `value` (bounded like nestedDeeperThan). */
export function hasArrayInArray(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null || limit <= 0) return false;
  const isArray = Array.isArray(value);
  for (const k in value) {
    if (!Object.prototype.hasOwnProperty.call(value, k)) continue;
    const child = (value as Record<string, unknown>)[k];
    if (isArray && Array.isArray(child)) return true;
    if (hasArrayInArray(child, limit - 1)) return true;
  }
  return false;
}

function usableEventId(raw: unknown): string | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const id = (raw as { eventId?: unknown }).eventId;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 && /^[A-Za-z0-9_.:-]+$/.test(id) ? id : null;
}

/** AJV errors → `{field, message}` with dotted field paths (`metadata`, `events`, `priority`). */
export function toDetails(errors: ErrorObject[] | null | undefined, root = 'body'): ErrorDetail[] {
  if (!errors || errors.length === 0) return [{ field: root, message: 'is invalid' }];
  return errors.map((e) => {
    const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const missing = (e.params as { missingProperty?: unknown }).missingProperty;
    const field = typeof missing === 'string' ? (path ? `${path}.${missing}` : missing) : path || root;
    return { field, message: e.message ?? 'is invalid' };
  });
}
