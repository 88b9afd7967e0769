/**
 * The ingestion module's own Redis connection: the hot path does not queue behind other
 * modules' slower commands on the shared REDIS_CLIENT. Same fail-fast options (no offline queue,
 * 2 s command timeout).
 */
export const INGEST_REDIS = Symbol('INGEST_REDIS');
