import fs from 'node:fs';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import request from 'supertest';
import { ApiKeysService } from '../../src/auth/api-keys/api-keys.service';
import { UsersService } from '../../src/auth/users/users.service';
import { type DlqDocument, dlqId } from '../../src/dlq/dlq-entry';
import { DlqRepository } from '../../src/dlq/dlq.repository';
import { DLQ_COLLECTION, EVENTS_COLLECTION, type StoredEventDocument } from '../../src/events/event.types';
import { MongoShards } from '../../src/mongo/mongo-shards';
import { ShardRouter } from '../../src/mongo/shard-router';
import { REPO_ROOT } from '../support/child-process';
import { startTestApp } from '../support/test-app';
import { TEST_DATABASE_URL, TEST_MONGO_HOSTS, testEnv, uniqueSuffix } from '../support/test-env';

/**
 * The local stand-in's GIN indexes (deploy/local/ferretdb/pg-gin-indexes.sql, installed by
 * `services.sh up`): on each shared shard (FerretDB on PostgreSQL database ferretdb_shard_<N>),
 * the events table of a database this file creates gets GIN indexes on `_jsonb->'_id'` and
 * `_jsonb->'userId'` without anyone asking, and the queries FerretDB pushes down for
 * users/:id/events, metrics?userId=, a find by _id and the DLQ's one-id operations use them — counted by PostgreSQL itself
 * (pg_stat_user_indexes.idx_scan: one per query), 12+ times per shard — more than the five
 * executions after which PostgreSQL may switch FerretDB's prepared statement to a generic plan,
 * which cannot use an index on `_jsonb->$1`.
 * Skipped only when `services.sh up` started the shards on the SQLite backend.
 * Redis DB 14 (the fault suite's range, which never runs with the test suite); nothing is flushed.
 */
const REDIS_DB = 14;
const RUNS_PER_SHARD = 12;
const FILLER_PER_SHARD = 8_000;

const shardPorts = TEST_MONGO_HOSTS.map((h) => h.split(':')[1]);
const sqliteShards = shardPorts.filter((p) => {
  const info = path.join(REPO_ROOT, '.local', 'run', `ferretdb-${p}.info`);
  return fs.existsSync(info) && fs.readFileSync(info, 'utf8').startsWith('sqlite:');
});
const describeOnPostgres = sqliteShards.length > 0 ? describe.skip : describe;

interface IndexScans {
  id: number;
  userId: number;
}

describeOnPostgres('GIN indexes on the FerretDB/PostgreSQL shards (local stand-in)', () => {
  let app: NestFastifyApplication;
  let apiKey: string;
  let dbName: string;
  const pgs: Client[] = [];
  const tables: string[] = [];
  const usersByShard: string[][] = [[], [], []];
  const run = uniqueSuffix();
  const base = Date.now() - 3_600_000;

  const get = (p: string) => request(app.getHttpServer()).get(p).set('x-api-key', apiKey);

  /** The PostgreSQL table FerretDB made for a collection of this file's database. */
  async function tableOf(shard: number, collection: string): Promise<string> {
    const { rows } = await pgs[shard].query<{ t: string }>(`SELECT _jsonb->>'table' AS t FROM ${JSON.stringify(dbName)}._ferretdb_database_metadata WHERE _jsonb->>'_id' = $1`, [collection]);
    expect(rows).toHaveLength(1);
    return rows[0].t;
  }

  /** idx_scan of our two GIN indexes on the shard's events table (NaN if missing). */
  async function indexScans(shard: number, table = tables[shard]): Promise<IndexScans> {
    const { rows } = await pgs[shard].query<{ indexdef: string; idx_scan: string }>(
      `SELECT i.indexdef, s.idx_scan
         FROM pg_stat_user_indexes s JOIN pg_indexes i ON i.schemaname = s.schemaname AND i.indexname = s.indexrelname
        WHERE s.schemaname = $1 AND s.relname = $2`,
      [dbName, table],
    );
    const scans = (field: string) => Number(rows.find((r) => r.indexdef.includes(`USING gin (((_jsonb -> '${field}'::text)) jsonb_path_ops)`))?.idx_scan ?? NaN);
    return { id: scans('_id'), userId: scans('userId') };
  }

  /**
   * A PostgreSQL backend reports its counters when idle, up to ~10 s late: poll until `field`
   * reaches `expected` (or 30 s). Nothing else queries this file's tables, so the count is exact:
   * one index scan per query; a query planned as a scan counts none.
   */
  async function indexScansReaching(shard: number, field: keyof IndexScans, expected: number, table = tables[shard]): Promise<IndexScans> {
    let s = await indexScans(shard, table);
    for (let i = 0; i < 120 && !(s[field] >= expected); i++) {
      await new Promise((r) => setTimeout(r, 250));
      s = await indexScans(shard, table);
    }
    return s;
  }

  beforeAll(async () => {
    const env = testEnv({ redisDb: REDIS_DB, overrides: { ROLE: 'api' } });
    dbName = new URL(env.MONGO_SHARD_URIS.split(',')[0]).pathname.slice(1);
    app = await startTestApp(env);
    const owner = await app.get(UsersService).create({ email: `gin-${run}@example.test`, password: 'correct horse battery', role: 'VIEWER' });
    apiKey = (await app.get(ApiKeysService).create(owner.id, { name: 'gin indexes' })).key;

    const router = app.get(ShardRouter);
    for (let i = 0; usersByShard.some((u) => u.length < 2); i++) {
      const userId = `gin-user-${run}-${i}`;
      if (usersByShard[router.indexFor(userId)].length < 2) usersByShard[router.indexFor(userId)].push(userId);
    }
    for (const shard of app.get(MongoShards).all) {
      const docs: StoredEventDocument[] = [];
      const event = (id: string, userId: string, i: number, ts: Date, payload?: Record<string, unknown>): StoredEventDocument => ({
        _id: id, eventId: id, eventType: ['view', 'click'][i % 2], userId, sessionId: `s-${i % 3}`, timestamp: ts, ...(payload ? { payload } : {}),
        priority: 1, receivedAt: ts, processedAt: ts, apiKeyId: null,
      });
      for (const userId of usersByShard[shard.index]) {
        for (let i = 0; i < 30; i++) {
          // every 5th event shares its timestamp with the one before: the cursor orders by _id too
          docs.push(event(`ev-${run}-${userId}-${i}`, userId, i, new Date(base + (i - (i % 5 === 1 ? 1 : 0)) * 60_000)));
        }
      }
      // Other users' events, so that the table is large enough (~600 pages) that a scan is never
      // the cheaper plan; a few dozen rows are read faster without any index.
      for (let i = 0; i < FILLER_PER_SHARD; i++) docs.push(event(`filler-${run}-${i}`, `filler-user-${i % 500}`, i, new Date(base), { text: 'x'.repeat(500) }));
      // The first write creates database and collection: FerretDB's CREATE TABLE fires the trigger.
      await shard.connection.db!.collection<StoredEventDocument>(EVENTS_COLLECTION).insertMany(docs);

      const pg = new Client({ connectionString: TEST_DATABASE_URL.replace(/\/[^/?]*(\?.*)?$/, `/ferretdb_shard_${shard.index}`) });
      await pg.connect();
      pgs[shard.index] = pg;
      tables[shard.index] = await tableOf(shard.index, EVENTS_COLLECTION);
    }
  }, 60_000);

  afterAll(async () => {
    for (const shard of app?.get(MongoShards).all ?? []) await shard.connection.db?.dropDatabase().catch(() => undefined);
    for (const pg of pgs) await pg?.end();
    await app?.close();
  });

  it('gives the events table of a new database a GIN index on _id and on userId, on every shard', async () => {
    for (const shard of [0, 1, 2]) {
      const { rows } = await pgs[shard].query<{ tablename: string; indexdef: string }>(
        `SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%USING gin%' ORDER BY indexdef`,
        [dbName],
      );
      // FerretDB's own metadata table is left alone.
      expect({ shard, defs: rows.map((r) => `${r.tablename}: ${r.indexdef.replace(/^.* USING /, 'USING ')}`) }).toEqual({
        shard,
        defs: [
          `${tables[shard]}: USING gin (((_jsonb -> '_id'::text)) jsonb_path_ops)`,
          `${tables[shard]}: USING gin (((_jsonb -> 'userId'::text)) jsonb_path_ops)`,
        ],
      });
    }
  });

  it('serves every users/:id/events page (first and cursor pages) and metrics?userId= query from the userId index', async () => {
    const requests = [0, 0, 0];
    for (const shard of [0, 1, 2]) {
      for (let i = 0; i < RUNS_PER_SHARD; i++) {
        const userId = usersByShard[shard][i % 2];
        const first = await get(`/api/v1/analytics/users/${userId}/events?limit=4`);
        expect(first.status).toBe(200);
        expect(first.body.data.events).toHaveLength(4);
        const next = await get(`/api/v1/analytics/users/${userId}/events?limit=4&cursor=${first.body.data.nextCursor}`);
        expect(next.status).toBe(200);
        const ids = [...first.body.data.events, ...next.body.data.events].map((e: { eventId: string }) => e.eventId);
        expect(ids).toEqual([29, 28, 27, 26, 25, 24, 23, 22].map((n) => `ev-${run}-${userId}-${n}`));
        requests[shard] += 2;
      }
      // (metrics answers are cached for 10 s: one call per user reaches the shard)
      for (const userId of usersByShard[shard]) {
        const metrics = await get(`/api/v1/analytics/metrics?timeRange=24h&userId=${userId}`);
        expect(metrics.status).toBe(200);
        expect(metrics.body.data.totalEvents).toBe(30);
        requests[shard] += 1;
      }
    }
    const scans = await Promise.all([0, 1, 2].map((shard) => indexScansReaching(shard, 'userId', requests[shard])));
    expect(scans.map((s) => s.userId)).toEqual(requests);
  }, 120_000);

  it('serves an equality lookup by _id from the _id index', async () => {
    for (const shard of [0, 1, 2]) {
      const coll = app.get(MongoShards).get(shard).connection.db!.collection<StoredEventDocument>(EVENTS_COLLECTION);
      for (let i = 0; i < RUNS_PER_SHARD; i++) {
        const id = `ev-${run}-${usersByShard[shard][0]}-${i}`;
        expect((await coll.findOne({ _id: id }))?.eventId).toBe(id);
      }
    }
    const scans = await Promise.all([0, 1, 2].map((shard) => indexScansReaching(shard, 'id', RUNS_PER_SHARD)));
    expect(scans.map((s) => s.id)).toEqual([RUNS_PER_SHARD, RUNS_PER_SHARD, RUNS_PER_SHARD]);
  }, 120_000);

  it('serves the DLQ’s writes and lookups of one id (upsert, findByIds, deleteIds) from the _id index', async () => {
    const repo = app.get(DlqRepository);
    await repo.ensureIndexes(); // creates the collection (on shard 0): no query yet
    const table = await tableOf(0, DLQ_COLLECTION);
    const now = new Date();
    const entries: DlqDocument[] = [0, 1, 2].map((i) => ({
      _id: dlqId(0, `${i}-0`), stream: 's', partition: 0, entryId: `${i}-0`, eventId: null, userId: null, raw: ['k', 'v'], truncated: false,
      reason: 'invalid', error: { message: 'x' }, attempts: 1, consumer: 'test', firstSeenAt: now, lastSeenAt: now,
    }));
    await repo.upsert(entries); // one updateOne({_id}) each
    expect((await repo.findByIds([entries[0]._id])).map((d) => d._id)).toEqual([entries[0]._id]);
    expect(await repo.deleteIds([entries[1]._id])).toBe(1);
    expect(await repo.count()).toBe(2);
    expect((await indexScansReaching(0, 'id', 5, table)).id).toBe(5);
  }, 60_000);
});
