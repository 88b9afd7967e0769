#!/usr/bin/env bash
# Local dependencies of Event Processor: Redis, PostgreSQL and one MongoDB-wire endpoint per shard.
#
#   bash scripts/services.sh up           reuse what already answers, start what is missing
#   bash scripts/services.sh down         stop only what `up` started (pid files in .local/run/)
#   bash scripts/services.sh status       show what answers at the configured URLs
#   bash scripts/services.sh ferretdb-bin print the path of the FerretDB binary (built if needed)
#
# Configuration (environment first, then .env, then defaults):
#   REDIS_URL          redis://127.0.0.1:6379
#   DATABASE_URL       postgresql://postgres@127.0.0.1:5432/event_processor
#   MONGO_SHARD_URIS   mongodb://127.0.0.1:27017/event_processor,...:27018...,...:27019...
#   FERRETDB_BACKEND   postgresql | sqlite (default below; see deploy/local/README.md for the measurement)
#   FERRETDB_LOG_LEVEL debug | info | warn | error (default warn: failed commands are logged, connections not)
#   SERVICES_WAIT_TIMEOUT  seconds to wait for a started service to answer (default 30)
#   SERVICES_PG_CLUSTER    Debian cluster to start when PostgreSQL does not answer (default main)
#
# A shard address where something MongoDB-wire already answers (mongod, mongos, FerretDB) is reused
# as is. Otherwise a FerretDB v1 instance (deploy/local/ferretdb) is started there, with its own
# storage: PostgreSQL database ferretdb_shard_<N> on the DATABASE_URL server, or SQLite folder
# .local/data/ferretdb-sqlite/shard_<N>/.
# Into every ferretdb_shard_<N> database that exists, `up` installs deploy/local/ferretdb/pg-gin-indexes.sql
# (GIN indexes on _id/userId for each new collection table: a local-stand-in accommodation).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

LOCAL_DIR="$ROOT/.local"
BIN_DIR="$LOCAL_DIR/bin"
LOG_DIR="$LOCAL_DIR/logs"
RUN_DIR="$LOCAL_DIR/run"
DATA_DIR="$LOCAL_DIR/data"
FERRET_SRC="$ROOT/deploy/local/ferretdb"
FERRET_BIN="$BIN_DIR/ferretdb"
FERRET_HASH_FILE="$BIN_DIR/ferretdb.src-sha256"

# Default backend: postgresql measured ~1.15-1.2x faster than sqlite for batched inserts and ~6x
# faster for aggregations (scripts/ferretdb-backend-bench.js; figures in deploy/local/README.md).
DEFAULT_FERRETDB_BACKEND=postgresql

# ---------------------------------------------------------------------------------------------
# helpers

log() { printf '%s\n' "$*" >&2; }
die() {
  printf 'services: ERROR: %s\n' "$1" >&2
  shift || true
  local line
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}
rel() { local p=$1; printf '%s' "${p#"$ROOT"/}"; }

# Value of KEY from .env (last assignment wins), without surrounding quotes. Returns 1 if absent.
env_file_value() {
  local key=$1 file="$ROOT/.env" line
  [[ -f $file ]] || return 1
  line=$(grep -E "^[[:space:]]*(export[[:space:]]+)?${key}=" "$file" | tail -n 1) || return 1
  [[ -n $line ]] || return 1
  line=${line#*=}
  line=${line%$'\r'}
  if [[ $line =~ ^\"(.*)\"[[:space:]]*$ || $line =~ ^\'(.*)\'[[:space:]]*$ ]]; then
    line=${BASH_REMATCH[1]}
  fi
  printf '%s' "$line"
}

# setting NAME DEFAULT: environment wins, then .env, then DEFAULT.
setting() {
  local name=$1 default=$2 value
  if [[ -n ${!name:-} ]]; then
    printf '%s' "${!name}"
  elif value=$(env_file_value "$name") && [[ -n $value ]]; then
    printf '%s' "$value"
  else
    printf '%s' "$default"
  fi
}

urldecode() { printf '%b' "${1//%/\\x}"; }

# parse_url URL: sets U_SCHEME U_USER U_PASS U_HOST (no brackets) U_PORT U_PATH U_QUERY.
parse_url() {
  local re='^([A-Za-z][A-Za-z0-9+.-]*)://(([^@/?#]*)@)?(\[[^]/]*\]|[^:/?#]*)(:([0-9]*))?(/([^?#]*))?(\?([^#]*))?(#.*)?$'
  [[ $1 =~ $re ]] || return 1
  U_SCHEME=${BASH_REMATCH[1]}
  local userinfo=${BASH_REMATCH[3]}
  U_HOST=${BASH_REMATCH[4]}
  U_HOST=${U_HOST#[}
  U_HOST=${U_HOST%]}
  U_PORT=${BASH_REMATCH[6]}
  U_PATH=${BASH_REMATCH[8]}
  U_QUERY=${BASH_REMATCH[10]}
  U_USER=''
  U_PASS=''
  if [[ -n $userinfo ]]; then
    U_USER=$(urldecode "${userinfo%%:*}")
    if [[ $userinfo == *:* ]]; then U_PASS=$(urldecode "${userinfo#*:}"); fi
  fi
}

# URL with the password replaced by ***, for printing.
mask_url() { printf '%s' "$1" | sed -E 's#^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@#\1:***@#'; }

is_local_host() {
  case $1 in 127.0.0.1 | localhost | ::1 | '') return 0 ;; *) return 1 ;; esac
}

# host for URLs: IPv6 literals need brackets
url_host() { if [[ $1 == *:* ]]; then printf '[%s]' "$1"; else printf '%s' "$1"; fi; }

tcp_open() {
  timeout 3 bash -c ': </dev/tcp/"$0"/"$1"' "$1" "$2" 2>/dev/null
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE runs and its command line contains PATTERN.
pid_alive() {
  local pidfile=$1 pattern=$2 pid args
  [[ -f $pidfile ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  args=$(ps -p "$pid" -o args= 2>/dev/null) || return 1
  [[ $args == *"$pattern"* ]]
}

pid_of() { tr -dc '0-9' <"$1"; }

# stop_pidfile PIDFILE PATTERN LABEL: TERM (then KILL after 15 s) the process, remove the pid file.
stop_pidfile() {
  local pidfile=$1 pattern=$2 label=$3 pid i
  [[ -f $pidfile ]] || return 0
  pid=$(pid_of "$pidfile")
  if ! pid_alive "$pidfile" "$pattern"; then
    echo "  $label: not running (stale pid file removed)"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    echo "  $label: stopped (pid $pid, killed after 15 s)"
  else
    echo "  $label: stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

# take_lock NAME: serialise concurrent runs (e.g. parallel test workers) on .local/run/NAME.lock.
take_lock() {
  command -v flock >/dev/null 2>&1 || return 0
  local fd=$2
  eval "exec ${fd}>\"\$RUN_DIR/$1.lock\""
  flock -w 600 "$fd" || die "could not get lock $(rel "$RUN_DIR/$1.lock") within 600 s"
}

# ---------------------------------------------------------------------------------------------
# MongoDB wire checks (node + the installed mongodb driver)

# node -e "$MONGO_CHECK_JS" MODE TIMEOUT_MS URI PID [URI PID ...]
#   MODE probe: one attempt per URI. MODE wait: retry until every URI answers, its PID (0 = none)
#   exits, or TIMEOUT_MS passes. One output line per URI: "<i> ok <server>", "<i> closed",
#   "<i> other <error>" (probe) or "<i> fail <reason>" (wait). Exit 0 only if all are ok.
MONGO_CHECK_JS=$(cat <<'JS'
const net = require('net');
let mongodb;
try { mongodb = require('mongodb'); } catch (e) {
  try { mongodb = require('mongoose').mongo; } catch (e2) {
    console.error('the mongodb driver is not installed (node_modules/mongodb): run npm ci');
    process.exit(3);
  }
}
const [mode, timeoutArg, ...rest] = process.argv.slice(1);
const timeoutMs = Number(timeoutArg);
const targets = [];
for (let i = 0; i < rest.length; i += 2) targets.push({ uri: rest[i], pid: Number(rest[i + 1]) || 0 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function tcpOpen(uri, ms) {
  if (uri.startsWith('mongodb+srv:')) return Promise.resolve(true);
  const u = new URL(uri);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const s = net.connect({ host, port: Number(u.port || 27017) });
    const done = (v) => { s.destroy(); resolve(v); };
    s.setTimeout(ms, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}
async function ping(uri, ms) {
  const opts = { serverSelectionTimeoutMS: ms, connectTimeoutMS: ms, socketTimeoutMS: ms, maxPoolSize: 1 };
  if (uri.startsWith('mongodb://')) opts.directConnection = true;
  const client = new mongodb.MongoClient(uri, opts);
  try {
    await client.connect();
    const admin = client.db('admin');
    await admin.command({ ping: 1 });
    let server = 'MongoDB-wire';
    try {
      const bi = await admin.command({ buildInfo: 1 });
      server = bi.ferretdbVersion ? `FerretDB ${bi.ferretdbVersion}` : `MongoDB ${bi.version}`;
    } catch (e) { /* buildInfo may need auth */ }
    return { ok: true, server };
  } catch (e) {
    return { ok: false, error: String(e && e.message || e).split('\n')[0] };
  } finally {
    await client.close().catch(() => {});
  }
}
function alive(pid) {
  if (!pid) return true;
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}
async function probe(t) {
  if (!(await tcpOpen(t.uri, 2000))) return 'closed';
  const r = await ping(t.uri, 3000);
  return r.ok ? `ok ${r.server}` : `other ${r.error}`;
}
async function wait(t) {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing listens yet';
  for (;;) {
    if (!alive(t.pid)) return `fail process ${t.pid} exited`;
    if (await tcpOpen(t.uri, 1000)) {
      const r = await ping(t.uri, 2000);
      if (r.ok) return `ok ${r.server}`;
      last = r.error;
    }
    if (Date.now() >= deadline) return `fail no answer within ${timeoutMs / 1000} s (${last})`;
    await sleep(200);
  }
}
(async () => {
  const results = await Promise.all(targets.map((t) => (mode === 'wait' ? wait(t) : probe(t))));
  results.forEach((r, i) => console.log(`${i} ${r}`));
  process.exit(results.every((r) => r.startsWith('ok')) ? 0 : 1);
})();
JS
)

# mongo_check MODE TIMEOUT_MS URI PID ...: prints the result lines; never fails (caller parses).
mongo_check() {
  local out rc=0
  out=$(node -e "$MONGO_CHECK_JS" "$@") || rc=$?
  if [[ $rc -ne 0 && $rc -ne 1 ]]; then
    die "MongoDB wire check failed (node exit $rc)" "$out"
  fi
  printf '%s\n' "$out"
}

# ---------------------------------------------------------------------------------------------
# FerretDB binary

find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    printf '%s' /usr/local/go/bin/go
  else
    return 1
  fi
}

ferret_src_hash() {
  (cd "$FERRET_SRC" && cat go.mod go.sum ./*.go) | sha256sum | cut -d ' ' -f 1
}

ferret_bin_current() {
  [[ -x $FERRET_BIN && -f $FERRET_HASH_FILE && "$(cat "$FERRET_HASH_FILE")" == "$1" ]]
}

# Builds .local/bin/ferretdb when missing or when deploy/local/ferretdb changed. Logs to stderr only.
ensure_ferretdb_bin() {
  mkdir -p "$BIN_DIR" "$RUN_DIR"
  local want go tmp t0
  want=$(ferret_src_hash)
  ferret_bin_current "$want" && return 0
  take_lock build 8
  ferret_bin_current "$want" && return 0 # another run built it while we waited
  go=$(find_go) || die "Go is needed to build FerretDB (deploy/local/ferretdb, Go >= 1.24) and is not installed." \
    "Install it, e.g.:" \
    "curl -fsSL https://go.dev/dl/go1.24.11.linux-amd64.tar.gz | tar -C /usr/local -xz && export PATH=\$PATH:/usr/local/go/bin" \
    "(Debian's apt-get install golang-go is too old for go.mod's 'go 1.24'.)"
  log "services: building FerretDB v1.24.2 wrapper -> $(rel "$FERRET_BIN") (first build: ~1.5 min on 2 cores) ..."
  t0=$SECONDS
  tmp="$FERRET_BIN.tmp.$$"
  if ! (cd "$FERRET_SRC" && "$go" build -buildvcs=false -o "$tmp" .) >&2; then
    rm -f "$tmp"
    die "go build failed in $(rel "$FERRET_SRC")"
  fi
  mv -f "$tmp" "$FERRET_BIN"
  printf '%s\n' "$want" >"$FERRET_HASH_FILE"
  log "services: built FerretDB in $((SECONDS - t0)) s"
}

# ---------------------------------------------------------------------------------------------
# configuration

REDIS_URL=$(setting REDIS_URL 'redis://127.0.0.1:6379')
DATABASE_URL=$(setting DATABASE_URL 'postgresql://postgres@127.0.0.1:5432/event_processor')
MONGO_SHARD_URIS=$(setting MONGO_SHARD_URIS 'mongodb://127.0.0.1:27017/event_processor,mongodb://127.0.0.1:27018/event_processor,mongodb://127.0.0.1:27019/event_processor')
FERRETDB_BACKEND=$(setting FERRETDB_BACKEND "$DEFAULT_FERRETDB_BACKEND")
FERRETDB_LOG_LEVEL=$(setting FERRETDB_LOG_LEVEL warn)
WAIT_TIMEOUT=$(setting SERVICES_WAIT_TIMEOUT 30)
PG_CLUSTER=$(setting SERVICES_PG_CLUSTER main) # Debian cluster started when DATABASE_URL does not answer
case $FERRETDB_BACKEND in postgresql | sqlite) ;; *) die "FERRETDB_BACKEND must be postgresql or sqlite, not '$FERRETDB_BACKEND'" ;; esac
[[ $WAIT_TIMEOUT =~ ^[0-9]+$ ]] || die "SERVICES_WAIT_TIMEOUT must be a number of seconds"

# PostgreSQL connection settings from DATABASE_URL (psql cannot take Prisma's ?schema= parameter).
load_pg_settings() {
  parse_url "$DATABASE_URL" || die "DATABASE_URL is not a URL: $(mask_url "$DATABASE_URL")"
  case $U_SCHEME in postgres | postgresql) ;; *) die "DATABASE_URL must be postgresql://..., got scheme '$U_SCHEME'" ;; esac
  PG_HOST=${U_HOST:-127.0.0.1}
  PG_PORT=${U_PORT:-5432}
  PG_USER=${U_USER:-postgres}
  PG_PASS=$U_PASS
  PG_DB=$(urldecode "${U_PATH:-event_processor}")
}

# pg_cluster_pid VERSION CLUSTER: postmaster pid of a running Debian cluster (empty if not running).
pg_cluster_pid() {
  pg_ctlcluster "$1" "$2" status 2>/dev/null | sed -nE 's/.*\(PID: ([0-9]+)\).*/\1/p' | head -n 1 || true
}

pg_psql() { PGPASSWORD=$PG_PASS PGCONNECT_TIMEOUT=5 psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$@"; }

pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -t 3 -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1
  else
    tcp_open "$PG_HOST" "$PG_PORT"
  fi
}

# pg_ensure_db NAME: create the database if missing. Prints "exists" or "created".
pg_ensure_db() {
  local name=$1 quoted found err
  quoted=${name//\'/\'\'}
  found=$(pg_psql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$quoted'" 2>&1) ||
    die "cannot query PostgreSQL at $PG_HOST:$PG_PORT as $PG_USER" "$found"
  if [[ $found == 1 ]]; then
    echo exists
    return 0
  fi
  if ! err=$(PGPASSWORD=$PG_PASS createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -- "$name" 2>&1); then
    # a concurrent run may have created it meanwhile
    found=$(pg_psql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$quoted'" 2>&1) || true
    [[ $found == 1 ]] || die "could not create database $name" "$err"
  fi
  echo created
}

# ---------------------------------------------------------------------------------------------
# up

SUMMARY=()
summary() { SUMMARY+=("$(printf '  %-11s %-58s %s' "$1" "$2" "$3")"); }

up_postgres() {
  load_pg_settings
  command -v psql >/dev/null 2>&1 || die "psql is not installed." "apt-get install -y postgresql-client"
  local how="reused (already answering)" marker="$RUN_DIR/postgresql.started"
  if ! pg_ready && tcp_open "$PG_HOST" "$PG_PORT"; then
    # listening but not accepting yet (starting up or recovering): wait instead of starting another
    local j
    for ((j = 0; j < WAIT_TIMEOUT * 5; j++)); do
      pg_ready && break
      sleep 0.2
    done
    pg_ready || die "PostgreSQL at $PG_HOST:$PG_PORT listens but does not accept connections after ${WAIT_TIMEOUT} s"
  fi
  if pg_ready; then
    if [[ -f $marker ]]; then
      local mver mcluster mpid
      read -r mver mcluster mpid <"$marker" || true
      how="running (started by an earlier 'up': cluster $mver/$mcluster, pid ${mpid:-?})"
    fi
  else
    is_local_host "$PG_HOST" || die "PostgreSQL at $PG_HOST:$PG_PORT (DATABASE_URL) does not answer and is not local, so it cannot be started here."
    command -v pg_ctlcluster >/dev/null 2>&1 || die "PostgreSQL does not answer at $PG_HOST:$PG_PORT and is not installed." \
      "apt-get install -y postgresql"
    local versions ver='' v conf_port
    versions=$(ls /etc/postgresql 2>/dev/null | sort -V) || true
    [[ -n $versions ]] || die "PostgreSQL is installed but has no cluster in /etc/postgresql." \
      "pg_createcluster --start <version> main   (or: apt-get install --reinstall postgresql)"
    for v in $versions; do
      [[ -f /etc/postgresql/$v/$PG_CLUSTER/postgresql.conf ]] || continue
      conf_port=$(sed -nE 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "/etc/postgresql/$v/$PG_CLUSTER/postgresql.conf" | tail -n 1)
      ver=$v
      [[ ${conf_port:-5432} == "$PG_PORT" ]] && break
    done
    [[ -n $ver ]] || die "no PostgreSQL cluster named '$PG_CLUSTER' under /etc/postgresql"
    log "services: starting PostgreSQL cluster $ver/$PG_CLUSTER ..."
    # output to a file, not $(...): the postmaster must not inherit a pipe we wait on
    local ctl_log="$LOG_DIR/pg_ctlcluster.log"
    pg_ctlcluster --skip-systemctl-redirect "$ver" "$PG_CLUSTER" start </dev/null >"$ctl_log" 2>&1 8>&- 9>&- ||
      die "pg_ctlcluster $ver $PG_CLUSTER start failed (log: /var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log)" "$(cat "$ctl_log")"
    printf '%s %s %s\n' "$ver" "$PG_CLUSTER" "$(pg_cluster_pid "$ver" "$PG_CLUSTER")" >"$marker"
    local i
    for ((i = 0; i < WAIT_TIMEOUT * 5; i++)); do
      pg_ready && break
      sleep 0.2
    done
    pg_ready || die "PostgreSQL $ver/$PG_CLUSTER did not answer on $PG_HOST:$PG_PORT within ${WAIT_TIMEOUT} s (log: /var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log)"
    how="started (cluster $ver/$PG_CLUSTER, log /var/log/postgresql/postgresql-$ver-$PG_CLUSTER.log)"
  fi
  local db
  db=$(pg_ensure_db "$PG_DB")
  summary postgresql "$(mask_url "$DATABASE_URL")" "$how; database $PG_DB $db"
}

redis_answers() {
  # Any RESP reply (+PONG, or -NOAUTH when a password is set) means a Redis answers.
  timeout 3 bash -c '
    exec 3<>/dev/tcp/"$0"/"$1" || exit 1
    printf "PING\r\n" >&3
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == +* || $line == -* ]]' "$1" "$2" 2>/dev/null
}

up_redis() {
  parse_url "$REDIS_URL" || die "REDIS_URL is not a URL: $(mask_url "$REDIS_URL")"
  local host=${U_HOST:-127.0.0.1} port=${U_PORT:-6379} pass=$U_PASS
  local pidfile="$RUN_DIR/redis.pid" how="reused (already answering)"
  if redis_answers "$host" "$port"; then
    pid_alive "$pidfile" redis-server && how="running (started by an earlier 'up', pid $(pid_of "$pidfile"))"
  else
    is_local_host "$host" || die "Redis at $host:$port (REDIS_URL) does not answer and is not local, so it cannot be started here."
    command -v redis-server >/dev/null 2>&1 || die "Redis does not answer at $host:$port and is not installed." \
      "apt-get install -y redis-server"
    local major bind=(127.0.0.1) args logfile="$LOG_DIR/redis.log"
    major=$(redis-server --version | sed -nE 's/.*v=([0-9]+).*/\1/p')
    [[ ${major:-0} -ge 7 ]] && bind+=(-::1) # "-" = skip if IPv6 is unavailable (Redis >= 7)
    mkdir -p "$DATA_DIR/redis"
    args=(--daemonize yes --bind "${bind[@]}" --port "$port" --save '' --appendonly no
      --dir "$DATA_DIR/redis" --logfile "$logfile" --pidfile "$pidfile")
    [[ -n $pass ]] && args+=(--requirepass "$pass")
    log "services: starting redis-server on $host:$port ..."
    redis-server "${args[@]}" </dev/null >>"$logfile" 2>&1 8>&- 9>&- || die "redis-server failed to start (log: $(rel "$logfile"))" "$(tail -n 20 "$logfile" 2>/dev/null)"
    local i
    for ((i = 0; i < WAIT_TIMEOUT * 5; i++)); do
      redis_answers "$host" "$port" && break
      sleep 0.2
    done
    redis_answers "$host" "$port" || die "Redis did not answer on $host:$port within ${WAIT_TIMEOUT} s (log: $(rel "$logfile"))" \
      "$(tail -n 20 "$logfile" 2>/dev/null)"
    how="started (pid $(pid_of "$pidfile" 2>/dev/null || echo '?'), log $(rel "$logfile"))"
  fi
  summary redis "$(mask_url "$REDIS_URL")" "$how"
}

up_shards() {
  local -a uris=() check=() hosts=() ports=()
  local raw uri i n
  IFS=',' read -r -a raw <<<"$MONGO_SHARD_URIS"
  for uri in "${raw[@]}"; do
    uri=$(printf '%s' "$uri" | tr -d '[:space:]')
    [[ -n $uri ]] && uris+=("$uri")
  done
  n=${#uris[@]}
  [[ $n -gt 0 ]] || die "MONGO_SHARD_URIS is empty"

  for ((i = 0; i < n; i++)); do
    parse_url "${uris[i]}" || die "shard $i: not a MongoDB URI: $(mask_url "${uris[i]}")"
    case $U_SCHEME in
      mongodb)
        hosts[i]=${U_HOST:-127.0.0.1}
        ports[i]=${U_PORT:-27017}
        check+=("mongodb://$(url_host "${hosts[i]}"):${ports[i]}/?directConnection=true" 0)
        ;;
      mongodb+srv)
        hosts[i]=''
        ports[i]=''
        check+=("${uris[i]}" 0)
        ;;
      *) die "shard $i: scheme must be mongodb:// (got $U_SCHEME://)" ;;
    esac
  done

  # 1) what answers already?
  local -a status=() start=()
  local line idx rest out
  out=$(mongo_check probe 3000 "${check[@]}") # not < <(...): a failure there must stop us
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    idx=${line%% *}
    rest=${line#* }
    status[idx]=$rest
  done <<<"$out"

  for ((i = 0; i < n; i++)); do
    local st=${status[i]:-closed} pidfile="$RUN_DIR/ferretdb-${ports[i]}.pid"
    case $st in
      ok*)
        local how="reused (${st#ok }, already answering)"
        if [[ -n ${ports[i]} ]] && pid_alive "$pidfile" "$FERRET_BIN"; then
          how="running (${st#ok }, started by an earlier 'up': $(cat "$RUN_DIR/ferretdb-${ports[i]}.info" 2>/dev/null || echo '?'), pid $(pid_of "$pidfile"))"
        fi
        summary "shard $i" "$(mask_url "${uris[i]}")" "$how"
        ;;
      other*)
        die "shard $i: something listens on ${hosts[i]:-?}:${ports[i]:-?} but does not answer as MongoDB (${st#other })." \
          "Free the port or point MONGO_SHARD_URIS elsewhere."
        ;;
      closed)
        [[ -n ${ports[i]} ]] || die "shard $i: $(mask_url "${uris[i]}") does not answer (mongodb+srv is never started locally)"
        if pid_alive "$pidfile" "$FERRET_BIN"; then
          # ours, still starting (or hung): wait for it below instead of starting a second one
          start+=("$i")
          continue
        fi
        is_local_host "${hosts[i]}" || die "shard $i: $(mask_url "${uris[i]}") does not answer and is not local, so it cannot be started here."
        start+=("$i")
        ;;
    esac
  done

  [[ ${#start[@]} -gt 0 ]] || return 0

  # 2) start FerretDB where nothing answers
  ensure_ferretdb_bin
  local -a wait_args=() started_info=()
  for i in "${start[@]}"; do
    local port=${ports[i]} listen_host=${hosts[i]}
    local pidfile="$RUN_DIR/ferretdb-$port.pid" logfile="$LOG_DIR/ferretdb-$port.log" info
    [[ $listen_host == localhost || -z $listen_host ]] && listen_host=127.0.0.1
    if pid_alive "$pidfile" "$FERRET_BIN"; then
      wait_args+=("${check[2 * i]}" "$(pid_of "$pidfile")")
      continue
    fi
    local -a backend_args
    if [[ $FERRETDB_BACKEND == postgresql ]]; then
      local db="ferretdb_shard_$i" state pg_url
      state=$(pg_ensure_db "$db")
      pg_url="postgres://$PG_USER${PG_PASS:+:$PG_PASS}@$(url_host "$PG_HOST"):$PG_PORT/$db"
      backend_args=(-handler postgresql -postgresql-url "$pg_url")
      info="postgresql: database $db"
      [[ $state == created ]] && info+=" (created)"
    else
      local dir="$DATA_DIR/ferretdb-sqlite/shard_$i"
      mkdir -p "$dir"
      backend_args=(-handler sqlite -sqlite-url "file:$dir/")
      info="sqlite: $(rel "$dir")/"
    fi
    # one storage per instance: refuse to share it with another live instance of ours (other port)
    local other
    for other in "$RUN_DIR"/ferretdb-*.info; do
      [[ -e $other && $other != "$RUN_DIR/ferretdb-$port.info" ]] || continue
      if [[ "$(cat "$other")" == "${info% (created)}" ]] && pid_alive "${other%.info}.pid" "$FERRET_BIN"; then
        other=${other##*/ferretdb-}
        die "shard $i: storage '${info% (created)}' is in use by the FerretDB on port ${other%.info} (from an earlier 'up' with other MONGO_SHARD_URIS)." \
          "Run 'bash scripts/services.sh down' first."
      fi
    done
    printf '\n=== %s services.sh up: shard %s on %s:%s, %s\n' "$(date '+%F %T')" "$i" "$listen_host" "$port" "$info" >>"$logfile"
    # setsid: own session, so a Ctrl-C or process-group kill of the caller does not take it down
    local launcher=()
    command -v setsid >/dev/null 2>&1 && launcher=(setsid)
    "${launcher[@]}" "$FERRET_BIN" -listen "$(url_host "$listen_host"):$port" "${backend_args[@]}" -log-level "$FERRETDB_LOG_LEVEL" </dev/null >>"$logfile" 2>&1 8>&- 9>&- &
    local pid=$!
    printf '%s\n' "$pid" >"$pidfile"
    printf '%s\n' "${info% (created)}" >"$RUN_DIR/ferretdb-$port.info"
    started_info[i]=$info
    log "services: started FerretDB for shard $i on $listen_host:$port (pid $pid, $info)"
    wait_args+=("${check[2 * i]}" "$pid")
  done

  # 3) wait until each started one answers on the wire protocol
  local -a results=()
  out=$(mongo_check wait "$((WAIT_TIMEOUT * 1000))" "${wait_args[@]}")
  while IFS= read -r line; do
    [[ -n $line ]] && results+=("$line")
  done <<<"$out"

  local k failed=0
  for k in "${!start[@]}"; do
    i=${start[k]}
    local port=${ports[i]} res=${results[k]:-"$k fail no result"}
    res=${res#* }
    local logfile="$LOG_DIR/ferretdb-$port.log" pidfile="$RUN_DIR/ferretdb-$port.pid"
    if [[ $res == ok* ]]; then
      summary "shard $i" "$(mask_url "${uris[i]}")" "started (${res#ok }, ${started_info[i]}, pid $(pid_of "$pidfile"), log $(rel "$logfile"))"
    else
      failed=1
      log "services: ERROR: shard $i (FerretDB on ${hosts[i]}:$port) did not come up: ${res#fail }"
      log "  log: $logfile"
      tail -n 15 "$logfile" 2>/dev/null | sed 's/^/  | /' >&2 || true
      stop_pidfile "$pidfile" "$FERRET_BIN" "shard $i FerretDB" >&2
      rm -f "$RUN_DIR/ferretdb-$port.info"
    fi
  done
  [[ $failed -eq 0 ]] || die "not all shards are up (see the log lines above)"
}

# GIN indexes that let PostgreSQL serve FerretDB's pushed-down equality filters (`_jsonb->'f' @> v`)
# on _id and userId: deploy/local/ferretdb/pg-gin-indexes.sql installs an event trigger that adds
# them to every collection table FerretDB creates (and adds them to existing ones). Applied to each
# ferretdb_shard_<N> database that exists, whatever the backend of the running shard (harmless
# when unused). A local-stand-in accommodation only; see deploy/local/README.md.
up_shard_gin_indexes() {
  local -a raw=()
  local uri n=0 i db quoted found err done_dbs=()
  IFS=',' read -r -a raw <<<"$MONGO_SHARD_URIS"
  for uri in "${raw[@]}"; do [[ -n $(printf '%s' "$uri" | tr -d '[:space:]') ]] && n=$((n + 1)); done
  for ((i = 0; i < n; i++)); do
    db="ferretdb_shard_$i"
    quoted=${db//\'/\'\'}
    found=$(pg_psql -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$quoted'" 2>/dev/null) || found=''
    [[ $found == 1 ]] || continue
    if err=$(pg_psql -d "$db" --single-transaction -c 'SET client_min_messages = warning' -f "$FERRET_SRC/pg-gin-indexes.sql" 2>&1 >/dev/null); then
      done_dbs+=("$db")
    else
      # e.g. not a superuser (event triggers need one): the shards work, only unindexed
      log "services: WARNING: could not install the GIN index trigger into $db (queries stay sequential scans):"
      printf '%s\n' "$err" | sed 's/^/  | /' >&2
    fi
  done
  [[ ${#done_dbs[@]} -gt 0 ]] && summary "pg GIN" "${done_dbs[*]}" "event trigger: GIN (_id, userId) on every collection table"
  return 0
}

cmd_up() {
  local t0=$SECONDS
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$DATA_DIR"
  take_lock services 9
  up_postgres # first: FerretDB's postgresql backend needs it
  up_redis
  up_shards
  up_shard_gin_indexes
  echo "services up (FerretDB backend for started shards: $FERRETDB_BACKEND) in $((SECONDS - t0)) s:"
  printf '%s\n' "${SUMMARY[@]}"
}

# ---------------------------------------------------------------------------------------------
# down

cmd_down() {
  mkdir -p "$RUN_DIR"
  take_lock services 9
  local any=0 pidfile port
  echo "services down:"
  for pidfile in "$RUN_DIR"/ferretdb-*.pid; do
    [[ -e $pidfile ]] || continue
    any=1
    port=${pidfile##*/ferretdb-}
    port=${port%.pid}
    stop_pidfile "$pidfile" "$FERRET_BIN" "FerretDB on port $port"
    rm -f "$RUN_DIR/ferretdb-$port.info"
  done
  if [[ -f $RUN_DIR/redis.pid ]]; then
    any=1
    stop_pidfile "$RUN_DIR/redis.pid" redis-server "redis-server"
  fi
  if [[ -f $RUN_DIR/postgresql.started ]]; then
    any=1
    local ver='' cluster='' pid='' now out
    read -r ver cluster pid <"$RUN_DIR/postgresql.started" || true
    cluster=${cluster:-main}
    now=$(pg_cluster_pid "$ver" "$cluster")
    if [[ -z $now ]]; then
      echo "  PostgreSQL $ver/$cluster: not running"
    elif [[ -z $pid || $now != "$pid" ]]; then
      # restarted by someone else since our 'up' (or no pid recorded): not ours to stop any more
      echo "  PostgreSQL $ver/$cluster: left running (pid $now is not the one 'up' started${pid:+, $pid})"
    elif out=$(pg_ctlcluster --skip-systemctl-redirect "$ver" "$cluster" stop 2>&1); then
      echo "  PostgreSQL $ver/$cluster: stopped (pid $pid)"
    else
      die "pg_ctlcluster $ver $cluster stop failed" "$out"
    fi
    rm -f "$RUN_DIR/postgresql.started"
  fi
  [[ $any -eq 1 ]] || echo "  nothing was started by 'up'; nothing to stop"
}

# ---------------------------------------------------------------------------------------------
# status

cmd_status() {
  load_pg_settings
  local s
  if pg_ready; then s=answers; else s='does NOT answer'; fi
  [[ -f $RUN_DIR/postgresql.started ]] && s+=" (started by 'up')"
  summary postgresql "$(mask_url "$DATABASE_URL")" "$s"
  parse_url "$REDIS_URL" || die "REDIS_URL is not a URL"
  if redis_answers "${U_HOST:-127.0.0.1}" "${U_PORT:-6379}"; then s=answers; else s='does NOT answer'; fi
  pid_alive "$RUN_DIR/redis.pid" redis-server && s+=" (started by 'up', pid $(pid_of "$RUN_DIR/redis.pid"))"
  summary redis "$(mask_url "$REDIS_URL")" "$s"
  local -a uris=() check=() raw
  local uri i line
  IFS=',' read -r -a raw <<<"$MONGO_SHARD_URIS"
  for uri in "${raw[@]}"; do
    uri=$(printf '%s' "$uri" | tr -d '[:space:]')
    [[ -n $uri ]] || continue
    uris+=("$uri")
    parse_url "$uri" || die "not a MongoDB URI: $(mask_url "$uri")"
    if [[ $U_SCHEME == mongodb ]]; then
      check+=("mongodb://$(url_host "${U_HOST:-127.0.0.1}"):${U_PORT:-27017}/?directConnection=true" 0)
    else
      check+=("$uri" 0)
    fi
  done
  local out
  out=$(mongo_check probe 3000 "${check[@]}")
  while IFS= read -r line; do
    [[ -n $line ]] || continue
    i=${line%% *}
    s=${line#* }
    parse_url "${uris[i]}"
    local pidfile="$RUN_DIR/ferretdb-${U_PORT:-27017}.pid"
    pid_alive "$pidfile" "$FERRET_BIN" && s+=" (started by 'up': $(cat "$RUN_DIR/ferretdb-${U_PORT:-27017}.info" 2>/dev/null), pid $(pid_of "$pidfile"))"
    summary "shard $i" "$(mask_url "${uris[i]}")" "$s"
  done <<<"$out"
  printf '%s\n' "${SUMMARY[@]}"
}

# ---------------------------------------------------------------------------------------------

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  ferretdb-bin)
    ensure_ferretdb_bin
    printf '%s\n' "$FERRET_BIN"
    ;;
  *)
    echo "usage: bash scripts/services.sh up|down|status|ferretdb-bin" >&2
    exit 2
    ;;
esac
