// MongoDB 7 sharded-cluster bootstrap for docker-compose.yml (run by the `mongo-init` one-shot service):
//
//   mongosh --nodb --quiet /deploy/mongo/init-sharding.js
//
// 1. initiates the config-server replica set and the three single-member shard replica sets,
// 2. waits for each to elect a primary and for mongos to answer,
// 3. adds the shards, enables sharding on `event_processor` and shards
//    `event_processor.events` on { userId: "hashed" }.
// Every step checks the current state first, so running it again is a no-op.

const DB_NAME = 'event_processor';
const COLLECTION = 'events';
const NAMESPACE = `${DB_NAME}.${COLLECTION}`;
const SHARD_KEY = { userId: 'hashed' };

const CONFIG_RS = { id: 'cfgrs', host: 'mongo-config:27017', configsvr: true };
const SHARD_RS = [
  { id: 'shard0', host: 'mongo-shard0:27017' },
  { id: 'shard1', host: 'mongo-shard1:27017' },
  { id: 'shard2', host: 'mongo-shard2:27017' },
];
const MONGOS = 'mongos:27017';

const TIMEOUT_MS = 180000;

function log(msg) {
  print(`[mongo-init] ${msg}`);
}

function waitFor(what, fn) {
  const deadline = Date.now() + TIMEOUT_MS;
  let lastError;
  while (Date.now() < deadline) {
    try {
      const v = fn();
      if (v) return v;
    } catch (e) {
      lastError = e;
    }
    sleep(1000);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
}

// mongosh throws a MongoServerError for a reply with ok: 0; turn it back into the reply so that
// expected states (e.g. NotYetInitialized) can be told apart from real failures.
function run(db, command) {
  try {
    return db.runCommand(command);
  } catch (e) {
    if (e && typeof e.code === 'number') return { ok: 0, code: e.code, codeName: e.codeName, errmsg: e.message };
    throw e;
  }
}

function check(res, what) {
  if (res.ok !== 1) throw new Error(`${what} failed: ${JSON.stringify(res)}`);
  return res;
}

function connectDirect(host) {
  return waitFor(`connection to ${host}`, () => {
    const conn = new Mongo(`mongodb://${host}/?directConnection=true&serverSelectionTimeoutMS=2000`);
    conn.getDB('admin').runCommand({ ping: 1 });
    return conn;
  });
}

function initiateReplicaSet({ id, host, configsvr }) {
  const admin = connectDirect(host).getDB('admin');
  const status = run(admin, { replSetGetStatus: 1 });
  if (status.ok === 1) {
    log(`replica set ${id} already initiated`);
  } else if (status.code === 94 /* NotYetInitialized */) {
    const config = { _id: id, members: [{ _id: 0, host }] };
    if (configsvr) config.configsvr = true;
    const res = run(admin, { replSetInitiate: config });
    if (res.ok !== 1 && res.code !== 23 /* AlreadyInitialized */) {
      throw new Error(`replSetInitiate ${id} failed: ${JSON.stringify(res)}`);
    }
    log(`replica set ${id} initiated`);
  } else {
    throw new Error(`replSetGetStatus ${id} failed: ${JSON.stringify(status)}`);
  }
  waitFor(`primary of ${id}`, () => admin.runCommand({ hello: 1 }).isWritablePrimary === true);
  log(`replica set ${id} has a primary`);
}


initiateReplicaSet(CONFIG_RS);
SHARD_RS.forEach(initiateReplicaSet);

const mongos = waitFor('mongos', () => {
  const conn = new Mongo(`mongodb://${MONGOS}/?serverSelectionTimeoutMS=2000`);
  return conn.getDB('admin').runCommand({ ping: 1 }).ok === 1 ? conn : null;
});
const admin = mongos.getDB('admin');

const existing = check(run(admin, { listShards: 1 }), 'listShards').shards.map((s) => s._id);
for (const { id, host } of SHARD_RS) {
  if (existing.includes(id)) {
    log(`shard ${id} already added`);
    continue;
  }
  waitFor(`addShard ${id}`, () => check(run(admin, { addShard: `${id}/${host}`, name: id }), `addShard ${id}`));
  log(`shard ${id} added`);
}

check(run(admin, { enableSharding: DB_NAME }), `enableSharding ${DB_NAME}`);
log(`sharding enabled on ${DB_NAME}`);

const sharded = mongos.getDB('config').getCollection('collections').findOne({ _id: NAMESPACE });
if (sharded) {
  log(`${NAMESPACE} already sharded on ${JSON.stringify(sharded.key)}`);
} else {
  check(run(admin, { shardCollection: NAMESPACE, key: SHARD_KEY }), `shardCollection ${NAMESPACE}`);
  log(`${NAMESPACE} sharded on ${JSON.stringify(SHARD_KEY)}`);
}

// Same shard key on the sharding configuration shown by sh.status(); fails the job if it differs.
const final = mongos.getDB('config').getCollection('collections').findOne({ _id: NAMESPACE });
if (!final || final.key.userId !== 'hashed') {
  throw new Error(`${NAMESPACE} is not sharded on { userId: "hashed" }: ${JSON.stringify(final && final.key)}`);
}
log('sharded cluster ready');
