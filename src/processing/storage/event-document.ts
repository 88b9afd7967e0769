import { StoredEventDocument } from '../../events/event.types';
import { escapeFieldNames } from '../../events/field-names';
import { StreamEntry } from '../../events/stream-entry';

/** A stream entry that parses but cannot become a valid document (never retried: DLQ). */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

const requireString = (value: unknown, field: string): string => {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidEventError(`${field} must be a non-empty string`);
  return value;
};

const optionalObject = (value: unknown, field: string): Record<string, unknown> | undefined => {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw new InvalidEventError(`${field} must be an object`);
  return value as Record<string, unknown>;
};

/**
 * The document stored for a stream entry: `_id` = eventId (so a redelivery is a duplicate-key
 * error), `timestamp`/`receivedAt`/`processedAt` as Dates, metadata/payload with their field
 * names in storage form (see events/field-names.ts). The API validated the event already; the
 * checks here guard against entries written by other means (replays of old entries, manual XADD).
 */
export function toStoredDocument(entry: StreamEntry, processedAt: Date): StoredEventDocument {
  const e = entry.event as unknown as Record<string, unknown>;
  const eventId = requireString(e.eventId, 'eventId');
  const timestamp = new Date(requireString(e.timestamp, 'timestamp'));
  if (Number.isNaN(timestamp.getTime())) throw new InvalidEventError('timestamp is not a valid date-time');
  const priority = e.priority === undefined || e.priority === null ? 1 : e.priority;
  if (typeof priority !== 'number' || !Number.isInteger(priority)) throw new InvalidEventError('priority must be an integer');
  const metadata = optionalObject(e.metadata, 'metadata');
  const payload = optionalObject(e.payload, 'payload');

  const doc: StoredEventDocument = {
    _id: eventId,
    eventId,
    eventType: requireString(e.eventType, 'eventType'),
    userId: requireString(e.userId, 'userId'),
    sessionId: requireString(e.sessionId, 'sessionId'),
    timestamp,
    priority,
    receivedAt: new Date(entry.receivedAt),
    processedAt,
    apiKeyId: entry.apiKeyId,
  };
  // Absent stays absent (the driver would store `undefined` as null).
  if (metadata !== undefined) doc.metadata = escapeFieldNames(metadata);
  if (payload !== undefined) doc.payload = escapeFieldNames(payload);
  return doc;
}
