/**
 * An event as accepted by the API after validation (contract §4): unknown top-level fields
 * dropped, `eventId` always present (server-generated UUIDv7 when the client sent none),
 * `priority` defaulted to 1.
 */
export interface IngestedEvent {
  eventId: string;
  eventType: string;
  userId: string;
  sessionId: string;
  /** ISO 8601 date-time as sent by the client. */
  timestamp: string;
  metadata?: Record<string, unknown>;
  payload?: Record<string, unknown>;
  priority: number;
}

/** What the worker stores in the `events` collection of the user's shard (`_id` = eventId). */
export interface StoredEventDocument {
  _id: string;
  eventId: string;
  eventType: string;
  userId: string;
  sessionId: string;
  timestamp: Date;
  metadata?: Record<string, unknown>;
  payload?: Record<string, unknown>;
  priority: number;
  receivedAt: Date;
  processedAt: Date;
  apiKeyId: string | null;
}

export const EVENTS_COLLECTION = 'events';
export const DLQ_COLLECTION = 'events_dlq';
