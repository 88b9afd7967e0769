/** Why an entry is in the dead-letter queue. */
export const DLQ_REASONS = ['unparseable', 'invalid', 'rejected', 'max-deliveries'] as const;
export type DlqReason = (typeof DLQ_REASONS)[number];

/**
 * One dead-lettered stream entry in `events_dlq` (always on shard 0, see DlqRepository).
 * `_id` = `<partition>:<entry id>`, so the same entry dead-lettered twice (two workers, or an
 * ack lost after the DLQ write) updates one document: attempts/lastSeenAt move, firstSeenAt stays.
 */
export interface DlqDocument {
  _id: string;
  stream: string;
  partition: number;
  entryId: string;
  /** From the entry when it parses far enough; null otherwise. */
  eventId: string | null;
  userId: string | null;
  /** The entry's field/value list exactly as read from the stream (what a replay appends again). */
  raw: string[];
  /** True if a raw value was cut to RAW_VALUE_LIMIT (such an entry cannot be replayed). */
  truncated: boolean;
  reason: DlqReason;
  error: { message: string; code?: number };
  /** Delivery count of the entry when it was dead-lettered (XPENDING's counter). */
  attempts: number;
  /** Consumer (hostname-pid) that dead-lettered it. */
  consumer: string;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

/** Largest raw value kept (a stream entry is normally < 40 KiB; MongoDB's document limit is 16 MiB). */
export const RAW_VALUE_LIMIT = 1024 * 1024;

export const dlqId = (partition: number, entryId: string): string => `${partition}:${entryId}`;
