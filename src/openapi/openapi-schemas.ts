import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { MetricsQueryDto, TimeseriesQueryDto, UserEventsQueryDto } from '../analytics/dto/analytics-query.dto';
import { ErrorCode } from '../common/http/error-codes';
import { batchEnvelopeSchema, eventSchema, MAX_BATCH_EVENTS } from '../ingestion/schemas/event.schema';

const ref = (name: string): SchemaObject => ({ $ref: `#/components/schemas/${name}` }) as SchemaObject;
const str = (extra: SchemaObject = {}): SchemaObject => ({ type: 'string', ...extra });
const int = (extra: SchemaObject = {}): SchemaObject => ({ type: 'integer', ...extra });
const num = (extra: SchemaObject = {}): SchemaObject => ({ type: 'number', ...extra });
const dateTime = (nullable = false): SchemaObject => ({ type: 'string', format: 'date-time', ...(nullable ? { nullable: true } : {}) });
const obj = (properties: Record<string, SchemaObject>, required = Object.keys(properties)): SchemaObject => ({ type: 'object', properties, required });
const arr = (items: SchemaObject): SchemaObject => ({ type: 'array', items });

/** `{ success: true, data }`: every successful JSON answer (contract §3). */
export const envelope = (data: SchemaObject): SchemaObject => obj({ success: { type: 'boolean', enum: [true] }, data });

/** Shared shapes, put under components.schemas. */
export const COMPONENT_SCHEMAS: Record<string, SchemaObject> = {
  ErrorEnvelope: obj({
    success: { type: 'boolean', enum: [false] },
    error: obj(
      {
        code: str({ enum: Object.values(ErrorCode) }),
        message: str(),
        details: arr(obj({ field: str(), message: str() }, ['message'])),
      },
      ['code', 'message'],
    ),
  }),
  Event: eventSchema as unknown as SchemaObject,
  EventBatch: {
    ...(batchEnvelopeSchema as unknown as SchemaObject),
    properties: { events: { type: 'array', minItems: 1, maxItems: MAX_BATCH_EVENTS, items: ref('Event') } },
  },
  IngestResult: obj({ eventId: str(), accepted: { type: 'boolean' }, duplicate: { type: 'boolean' } }),
  BatchResult: obj({
    accepted: int(),
    duplicates: int(),
    rejected: int(),
    total: int(),
    results: arr(
      obj(
        {
          index: int(),
          eventId: str({ nullable: true }),
          status: str({ enum: ['accepted', 'duplicate', 'rejected'] }),
          error: obj({ code: str(), message: str(), details: arr(obj({ field: str(), message: str() }, ['message'])) }, ['code', 'message']),
        },
        ['index', 'eventId', 'status'],
      ),
    ),
  }),
  IngestionStats: obj({
    ingestionRate: num(),
    totalIngested: int(),
    totalDuplicates: int(),
    totalRejected: int(),
    streamLength: int(),
    pending: int(),
    partitions: int(),
    rateWindowSeconds: int(),
    timestamp: dateTime(),
  }),
  TimePoint: obj({ timestamp: dateTime(), count: int() }),
  AnalyticsMetrics: obj(
    {
      totalEvents: int(),
      timeRange: obj({ start: dateTime(), end: dateTime() }),
      eventsByType: arr(obj({ eventType: str(), count: int(), percentage: num() })),
      topUsers: arr(obj({ userId: str(), eventCount: int(), lastEventAt: dateTime(true), eventTypes: arr(str()) })),
      eventsOverTime: arr(ref('TimePoint')),
      avgEventsPerUser: num(),
      uniqueUsers: int(),
      uniqueSessions: int(),
    },
    ['totalEvents', 'timeRange', 'eventsByType', 'topUsers', 'eventsOverTime', 'avgEventsPerUser', 'uniqueUsers', 'uniqueSessions'],
  ),
  UserEvents: obj({
    userId: str(),
    events: arr({ type: 'object', additionalProperties: true, description: 'Stored events, newest first' }),
    nextCursor: str({ nullable: true }),
  }),
  User: obj({
    id: str({ format: 'uuid' }),
    email: str({ format: 'email' }),
    name: str(),
    role: str({ enum: ['VIEWER', 'OPERATOR', 'ADMIN'] }),
    status: str({ enum: ['ACTIVE', 'DISABLED'] }),
    createdAt: dateTime(),
    updatedAt: dateTime(),
  }),
  Me: obj({
    id: str({ format: 'uuid' }),
    email: str({ format: 'email' }),
    name: str(),
    role: str({ enum: ['VIEWER', 'OPERATOR', 'ADMIN'] }),
    status: str(),
    auth: obj({ kind: str({ enum: ['apiKey', 'user'] }), apiKeyId: str() }, ['kind']),
  }),
  LoginResult: obj({ token: str({ description: 'HS256 JWT for `Authorization: Bearer`' }), expiresIn: int({ description: 'seconds' }), user: obj({ id: str(), email: str(), name: str(), role: str() }) }),
  ApiKey: obj({
    id: str({ format: 'uuid' }),
    userId: str({ format: 'uuid' }),
    name: str(),
    prefix: str(),
    createdAt: dateTime(),
    lastUsedAt: dateTime(true),
    expiresAt: dateTime(true),
    revokedAt: dateTime(true),
  }),
  ApiKeyCreated: { allOf: [ref('ApiKey'), obj({ key: str({ description: 'The key (`evp_…`), shown only in this answer' }) })] },
  DlqPage: obj({
    items: arr(
      obj(
        {
          id: str(),
          eventId: str({ nullable: true }),
          userId: str({ nullable: true }),
          reason: str({ enum: ['unparseable', 'invalid', 'rejected', 'max-deliveries'] }),
          error: obj({ message: str(), code: int() }, ['message']),
          attempts: int(),
          firstSeenAt: dateTime(),
          lastSeenAt: dateTime(),
          stream: str(),
          entryId: str(),
          event: { type: 'object', nullable: true, additionalProperties: true },
          apiKeyId: str({ nullable: true }),
          receivedAt: dateTime(true),
          raw: arr(str()),
          truncated: { type: 'boolean' },
          replayable: { type: 'boolean' },
        },
        ['id', 'reason', 'error', 'attempts', 'firstSeenAt', 'lastSeenAt', 'stream', 'entryId', 'raw', 'truncated', 'replayable'],
      ),
    ),
    nextCursor: str({ nullable: true }),
    total: int(),
  }),
  ReplayResult: obj({ replayed: arr(str()), skipped: arr(obj({ id: str(), reason: str() })), notFound: arr(str()), remaining: int() }),
  HealthResult: {
    type: 'object',
    description: 'Terminus result: `info` (up) and `error` (down) per dependency: redis, postgres (API), mongo-shard-N',
    properties: {
      status: str({ enum: ['ok', 'error'] }),
      info: { type: 'object', additionalProperties: obj({ status: str() }, ['status']) },
      error: { type: 'object', additionalProperties: obj({ status: str() }, ['status']) },
      details: { type: 'object', additionalProperties: true },
    },
    required: ['status'],
  },
  StreamStats: obj(
    {
      sampledAt: dateTime(true),
      stale: { type: 'boolean' },
      streams: arr(obj({ stream: str(), length: int(), pending: int(), lag: int({ nullable: true }) })),
      length: int(),
      pending: int(),
      lag: int({ nullable: true }),
      backlog: int(),
      ingestRate: num({ description: 'Events accepted by all API processes in the last complete second' }),
      processRate: num({ nullable: true, description: 'Entries acknowledged per second by all workers' }),
      dlqSize: int({ nullable: true }),
      dlqSampledAt: dateTime(true),
    },
  ),
  MetricsSnapshot: obj({
    timestamp: dateTime(),
    role: str({ enum: ['api', 'worker', 'all'] }),
    uptimeSeconds: int(),
    stream: ref('StreamStats'),
    live: obj({ clients: int(), running: { type: 'boolean' } }),
    metrics: {
      type: 'object',
      description: 'This process\'s Prometheus metrics by name: a number, or [{labels, value}], or for histograms [{labels, count, sum}]',
      additionalProperties: true,
    },
  }),
  LiveMetricsMessage: obj({
    timestamp: dateTime(),
    ingestRate: num(),
    processRate: num({ nullable: true }),
    backlog: int(),
    dlqSize: int({ nullable: true }),
    streamLength: int(),
    pending: int(),
    sampledAt: dateTime(true),
    stale: { type: 'boolean' },
  }),
};

export interface OperationDoc {
  summary?: string;
  /** Success status and its JSON `data` schema (wrapped in the envelope unless `raw`). */
  status: number;
  data?: SchemaObject;
  /** The body is not in the envelope (health endpoints) or not JSON (set `content`). */
  raw?: boolean;
  content?: Record<string, { schema: SchemaObject }>;
  /** Extra success statuses (e.g. 200 for a duplicate). */
  also?: Record<number, { description: string; data: SchemaObject }>;
  /** Raw JSON body (routes that read the request body themselves). */
  body?: SchemaObject;
  /** Query DTO of routes that parse the raw query themselves. */
  query?: Function;
  /** Error statuses besides those derived from the guards (401/403) and the common 400/500/503. */
  errors?: number[];
}

/**
 * What each route answers. Keyed by `METHOD /path` (OpenAPI path syntax). A route missing here
 * fails the OpenAPI test, so a new endpoint cannot ship undocumented.
 */
export const OPERATIONS: Record<string, OperationDoc> = {
  'POST /api/auth/login': { summary: 'Log in with email and password; returns a JWT', status: 200, data: ref('LoginResult'), errors: [429] },
  'GET /api/auth/me': { summary: 'The caller (user of the JWT, or owner of the API key)', status: 200, data: ref('Me'), errors: [429] },
  'POST /api/auth/api-keys': { summary: 'Create an API key for yourself (shown once)', status: 201, data: ref('ApiKeyCreated'), errors: [429] },
  'GET /api/auth/api-keys': { summary: 'Your API keys (ADMIN: ?userId= for another user)', status: 200, data: arr(ref('ApiKey')), errors: [429] },
  'DELETE /api/auth/api-keys/{id}': { summary: 'Revoke an API key (refused everywhere within 1 s)', status: 204, errors: [404, 429] },
  'POST /api/auth/users': { summary: 'Create a user', status: 201, data: ref('User'), errors: [409, 429] },
  'GET /api/auth/users': { summary: 'List users', status: 200, data: arr(ref('User')), errors: [429] },
  'GET /api/auth/users/{id}': { summary: 'One user', status: 200, data: ref('User'), errors: [404, 429] },
  'PATCH /api/auth/users/{id}': { summary: 'Change role, status, name or password', status: 200, data: ref('User'), errors: [404, 429] },
  'POST /api/v1/events': {
    summary: 'Ingest one event (202 accepted, 200 duplicate eventId)',
    status: 202,
    data: ref('IngestResult'),
    also: { 200: { description: 'Duplicate eventId: not stored again', data: ref('IngestResult') } },
    body: ref('Event'),
    errors: [413, 415, 429],
  },
  'POST /api/v1/events/batch': {
    summary: `Ingest up to ${MAX_BATCH_EVENTS} events; per-item results`,
    status: 202,
    data: ref('BatchResult'),
    body: ref('EventBatch'),
    errors: [413, 415, 429],
  },
  'GET /api/v1/events/stats': { summary: 'Ingestion counters, rate and stream state', status: 200, data: ref('IngestionStats') },
  'GET /api/v1/analytics/metrics': { summary: 'Totals, events by type, top users and events over time', status: 200, data: ref('AnalyticsMetrics'), query: MetricsQueryDto },
  'GET /api/v1/analytics/timeseries': { summary: 'Event counts per minute, hour or day', status: 200, data: arr(ref('TimePoint')), query: TimeseriesQueryDto },
  'GET /api/v1/analytics/users/{userId}/events': { summary: "A user's events, newest first, cursor-paginated", status: 200, data: ref('UserEvents'), query: UserEventsQueryDto },
  'GET /api/v1/dlq': { summary: 'Dead-letter entries, newest first', status: 200, data: ref('DlqPage') },
  'POST /api/v1/dlq/replay': { summary: 'Put entries back into the stream (ids, or all: true)', status: 202, data: ref('ReplayResult') },
  'DELETE /api/v1/dlq/{id}': { summary: 'Delete one dead-letter entry', status: 204, errors: [404] },
  'GET /api/health': { summary: 'Round trip to every dependency (503 names the failing ones)', status: 200, data: ref('HealthResult'), raw: true },
  'GET /api/ready': { summary: "Readiness: this role's connections are open", status: 200, data: obj({ ready: { type: 'boolean', enum: [true] } }), raw: true },
  'GET /api/live': { summary: 'Liveness', status: 200, data: obj({ live: { type: 'boolean', enum: [true] } }), raw: true },
  'GET /metrics': { summary: 'Prometheus scrape target (no authentication; keep it internal)', status: 200, content: { 'text/plain': { schema: str() } } },
  'GET /api/v1/metrics': { summary: "This process's metrics as JSON plus the sampled stream view", status: 200, data: ref('MetricsSnapshot') },
  'GET /api/v1/metrics/live': {
    summary: 'Server-sent events, one a second; each `data:` is a LiveMetricsMessage (read with fetch + Authorization)',
    status: 200,
    content: { 'text/event-stream': { schema: { ...str(), description: 'id: <n>\\ndata: <LiveMetricsMessage JSON>\\n\\n' } } },
  },
};
