import { IngestedEvent } from './event.types';

/**
 * The fields of one Redis Stream entry, shared by the API (writer) and the worker (reader).
 * Short names keep the stream small in Redis memory:
 *   e = the validated event as JSON, k = API key id ('' when none), r = receive time (epoch ms).
 */
export const STREAM_FIELDS = { event: 'e', apiKeyId: 'k', receivedAt: 'r' } as const;

export interface StreamEntry {
  event: IngestedEvent;
  apiKeyId: string | null;
  receivedAt: number;
}

/** Flat field/value list for XADD (the ingest Lua script receives it pre-encoded). */
export function encodeStreamEntry(entry: StreamEntry): string[] {
  return [
    STREAM_FIELDS.event,
    JSON.stringify(entry.event),
    STREAM_FIELDS.apiKeyId,
    entry.apiKeyId ?? '',
    STREAM_FIELDS.receivedAt,
    String(entry.receivedAt),
  ];
}

export class StreamEntryParseError extends Error {}

/** Parses the flat field list of an XREADGROUP/XAUTOCLAIM entry; throws StreamEntryParseError. */
export function decodeStreamEntry(fields: string[]): StreamEntry {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i], fields[i + 1]);
  const raw = map.get(STREAM_FIELDS.event);
  if (raw === undefined) throw new StreamEntryParseError('entry has no event field');
  let event: IngestedEvent;
  try {
    event = JSON.parse(raw) as IngestedEvent;
  } catch {
    throw new StreamEntryParseError('event field is not valid JSON');
  }
  if (typeof event !== 'object' || event === null || typeof event.eventId !== 'string' || typeof event.userId !== 'string') {
    throw new StreamEntryParseError('event lacks eventId or userId');
  }
  const receivedAt = Number(map.get(STREAM_FIELDS.receivedAt));
  return {
    event,
    apiKeyId: map.get(STREAM_FIELDS.apiKeyId) || null,
    receivedAt: Number.isFinite(receivedAt) && receivedAt > 0 ? receivedAt : Date.now(),
  };
}
