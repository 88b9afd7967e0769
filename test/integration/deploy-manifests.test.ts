/**
 * Static checks of the deployment files: Dockerfile, docker-compose.yml, deploy/nginx/nginx.conf,
 * deploy/mongo/init-sharding.js and deploy/k8s/*.yaml. Needs no running service.
 *
 * Every assertion is made on values parsed from the files, so editing a file the wrong way (an
 * unknown variable, a probe on the wrong port, buffering on the SSE path, ...) makes it fail.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { parse, parseAllDocuments } from 'yaml';
import { PATH_METADATA } from '@nestjs/common/constants';
import { getMetadataStorage } from 'class-validator';
import { AppConfig, loadAppConfig } from '../../src/config/app-config';
import { HealthController } from '../../src/health/health.controller';
import { PrometheusController } from '../../src/metrics/prometheus.controller';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (rel: string): string => fs.readFileSync(path.join(ROOT, rel), 'utf8');

type Obj = Record<string, any>;

// Variables the deployment files may set although .env.example does not document them. Keep empty
// unless there is a reason; every entry needs one.
const ENV_ALLOW_LIST = new Set<string>([]);

// ------------------------------------------------------------------------------------------------
// .env.example
// ------------------------------------------------------------------------------------------------
function envExampleNames(): Set<string> {
  const names = new Set<string>();
  for (const line of read('.env.example').split(/\r?\n/)) {
    const m = /^([A-Z][A-Z0-9_]*)=/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}
const ENV_NAMES = envExampleNames();

function unknownEnvNames(names: Iterable<string>): string[] {
  return [...names].filter((n) => !ENV_NAMES.has(n) && !ENV_ALLOW_LIST.has(n));
}

// ------------------------------------------------------------------------------------------------
// docker-compose.yml
// ------------------------------------------------------------------------------------------------
const compose: Obj = parse(read('docker-compose.yml'), { merge: true });
const services: Obj = compose.services ?? {};

function serviceEnv(name: string): Record<string, string> {
  const env = services[name]?.environment;
  const out: Record<string, string> = {};
  if (Array.isArray(env)) {
    for (const item of env) {
      const [k, ...rest] = String(item).split('=');
      out[k] = rest.join('=');
    }
  } else if (env && typeof env === 'object') {
    for (const [k, v] of Object.entries(env)) {
      if (k === '<<') throw new Error(`unresolved YAML merge key in ${name}.environment`);
      out[k] = v === null ? '' : String(v);
    }
  }
  return out;
}

function commandOf(svc: Obj): string[] {
  const c = svc?.command;
  if (Array.isArray(c)) return c.map(String);
  if (typeof c === 'string') return c.split(/\s+/).filter(Boolean);
  return [];
}

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

function durationSeconds(v: unknown): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(v ?? '').trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2] ?? 's'] as number;
}

// ------------------------------------------------------------------------------------------------
// deploy/k8s
// ------------------------------------------------------------------------------------------------
const K8S_DIR = path.join(ROOT, 'deploy', 'k8s');
const k8sFiles = fs
  .readdirSync(K8S_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const k8sDocs: Array<Obj & { __file: string }> = k8sFiles.flatMap((file) =>
  parseAllDocuments(fs.readFileSync(path.join(K8S_DIR, file), 'utf8')).flatMap((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const js = doc.toJS();
    return js && typeof js === 'object' ? [{ ...js, __file: file }] : [];
  }),
);
const ofKind = (kind: string) => k8sDocs.filter((d) => d.kind === kind);
const byName = (kind: string, name: string) => ofKind(kind).find((d) => d.metadata?.name === name);

const configMap = ofKind('ConfigMap')[0];
const secretExample = ofKind('Secret').find((d) => d.__file === 'secret.example.yaml');
const deployments = ofKind('Deployment');
const role = (d: Obj): string | undefined =>
  d.spec.template.spec.containers[0].env?.find((e: Obj) => e.name === 'ROLE')?.value;
const apiDeployment = deployments.find((d) => role(d) === 'api');
const workerDeployment = deployments.find((d) => role(d) === 'worker');

function podSpecs(): Array<{ owner: string; spec: Obj }> {
  return [...deployments, ...ofKind('Job')].map((d) => ({
    owner: `${d.kind}/${d.metadata.name}`,
    spec: d.spec.template.spec,
  }));
}

function resolvePort(container: Obj, port: number | string): number {
  if (typeof port === 'number') return port;
  const named = (container.ports ?? []).find((p: Obj) => p.name === port);
  return named ? Number(named.containerPort) : NaN;
}

function selectorMatches(selector: Obj, labels: Obj): boolean {
  const wanted = selector?.matchLabels ?? {};
  return Object.keys(wanted).length > 0 && Object.entries(wanted).every(([k, v]) => labels?.[k] === v);
}

// ------------------------------------------------------------------------------------------------
// mongosh script, run against a fake cluster
// ------------------------------------------------------------------------------------------------
interface FakeCluster {
  initiated: Map<string, Obj>; // host -> replica set config
  shards: Array<{ _id: string; host: string }>;
  sharded: Map<string, Obj>; // namespace -> key
  commands: Array<{ host: string; cmd: Obj }>;
}

function newCluster(): FakeCluster {
  return { initiated: new Map(), shards: [], sharded: new Map(), commands: [] };
}

function runInitScript(cluster: FakeCluster): void {
  const serverError = (code: number, codeName: string) =>
    Object.assign(new Error(codeName), { code, codeName });
  class Mongo {
    private readonly host: string;
    constructor(uri: string) {
      const m = /^mongodb:\/\/([^/?]+)/.exec(uri);
      if (!m) throw new Error(`bad uri ${uri}`);
      this.host = m[1];
    }
    getDB(_name: string) {
      const host = this.host;
      const isMongos = host.startsWith('mongos');
      return {
        runCommand(cmd: Obj): Obj {
          cluster.commands.push({ host, cmd });
          const op = Object.keys(cmd)[0];
          switch (op) {
            case 'ping':
              return { ok: 1 };
            case 'replSetGetStatus':
              // mongosh throws for a reply with ok: 0
              if (!cluster.initiated.has(host)) throw serverError(94, 'NotYetInitialized');
              return { ok: 1 };
            case 'replSetInitiate':
              if (cluster.initiated.has(host)) throw serverError(23, 'AlreadyInitialized');
              cluster.initiated.set(host, cmd.replSetInitiate);
              return { ok: 1 };
            case 'hello':
              return { ok: 1, isWritablePrimary: cluster.initiated.has(host) };
            case 'listShards':
              if (!isMongos) throw serverError(59, 'CommandNotFound');
              return { ok: 1, shards: cluster.shards.map((s) => ({ ...s })) };
            case 'addShard': {
              if (!isMongos) throw serverError(59, 'CommandNotFound');
              const [rs, members] = String(cmd.addShard).split('/');
              const cfg = cluster.initiated.get(members);
              if (!cfg || cfg._id !== rs) throw serverError(96, 'OperationFailed');
              cluster.shards.push({ _id: cmd.name ?? rs, host: cmd.addShard });
              return { ok: 1 };
            }
            case 'enableSharding':
              if (!isMongos) throw serverError(59, 'CommandNotFound');
              return { ok: 1 };
            case 'shardCollection':
              if (!isMongos) throw serverError(59, 'CommandNotFound');
              if (cluster.shards.length === 0) throw serverError(70, 'ShardNotFound');
              cluster.sharded.set(cmd.shardCollection, cmd.key);
              return { ok: 1 };
            default:
              throw serverError(59, 'CommandNotFound');
          }
        },
        getCollection(coll: string) {
          return {
            findOne(q: Obj): Obj | null {
              if (coll !== 'collections') return null;
              const key = cluster.sharded.get(q._id);
              return key ? { _id: q._id, key } : null;
            },
          };
        },
      };
    }
  }
  const code = read('deploy/mongo/init-sharding.js');
  vm.runInNewContext(code, { Mongo, print: () => undefined, sleep: () => undefined, JSON, Date, Error }, {
    filename: 'init-sharding.js',
    timeout: 5000,
  });
}

// ------------------------------------------------------------------------------------------------
// nginx.conf
// ------------------------------------------------------------------------------------------------
const nginxConf = read('deploy/nginx/nginx.conf')
  .split('\n')
  .map((l) => l.replace(/(^|\s)#.*$/, ''))
  .join('\n');

/** Body of the first block whose header matches `header` (e.g. /location\s*=\s*\/x/). */
function nginxBlock(conf: string, header: RegExp): string | undefined {
  const m = new RegExp(`${header.source}\\s*\\{`).exec(conf);
  if (!m) return undefined;
  let depth = 0;
  for (let i = m.index + m[0].length - 1; i < conf.length; i++) {
    if (conf[i] === '{') depth++;
    else if (conf[i] === '}' && --depth === 0) return conf.slice(m.index + m[0].length, i);
  }
  return undefined;
}

/** Directives at the top level of a block body (nested blocks removed). */
function topLevelDirectives(body: string): string[][] {
  let flat = '';
  let depth = 0;
  for (const ch of body) {
    if (ch === '{') depth++;
    else if (ch === '}') depth--;
    else if (depth === 0) flat += ch;
  }
  return flat
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => s.split(/\s+/));
}

function nginxSizeBytes(v: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()] as number);
}

// ------------------------------------------------------------------------------------------------
// Dockerfile
// ------------------------------------------------------------------------------------------------
interface Stage {
  from: string;
  name?: string;
  instructions: Array<{ op: string; args: string }>;
}

function dockerStages(): Stage[] {
  const logical = read('Dockerfile')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [op, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op.toUpperCase() === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(args);
      stages.push({ from: m?.[1] ?? '', name: m?.[2], instructions: [] });
    } else if (stages.length) {
      stages[stages.length - 1].instructions.push({ op: op.toUpperCase(), args });
    }
  }
  return stages;
}

// ================================================================================================

describe('deployment files', () => {
  it('.env.example parses into the documented variable names', () => {
    for (const n of ['ROLE', 'PORT', 'HEALTH_PORT', 'REDIS_URL', 'DATABASE_URL', 'MONGO_SHARD_URIS', 'JWT_SECRET']) {
      expect(ENV_NAMES).toContain(n);
    }
  });

  describe('(a) only variables documented in .env.example', () => {
    it.each(['api', 'worker', 'migrate'])('compose service %s', (name) => {
      const env = serviceEnv(name);
      expect(Object.keys(env).length).toBeGreaterThan(0);
      expect(unknownEnvNames(Object.keys(env))).toEqual([]);
    });

    it('compose services use no env_file (it would bypass this check)', () => {
      for (const name of ['api', 'worker', 'migrate']) expect(services[name]?.env_file).toBeUndefined();
    });

    it('k8s ConfigMap keys', () => {
      expect(configMap).toBeDefined();
      const keys = Object.keys(configMap!.data ?? {});
      expect(keys.length).toBeGreaterThan(0);
      expect(unknownEnvNames(keys)).toEqual([]);
    });

    it('k8s Secret example keys', () => {
      expect(secretExample).toBeDefined();
      const keys = Object.keys({ ...(secretExample!.stringData ?? {}), ...(secretExample!.data ?? {}) });
      expect(keys.sort()).toEqual(expect.arrayContaining(['DATABASE_URL', 'JWT_SECRET']));
      expect(unknownEnvNames(keys)).toEqual([]);
    });

    it('k8s Deployment and Job container env, and envFrom only from that ConfigMap/Secret', () => {
      const specs = podSpecs();
      expect(specs.length).toBeGreaterThanOrEqual(3);
      for (const { owner, spec } of specs) {
        for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
          const names = (c.env ?? []).map((e: Obj) => e.name);
          expect({ owner, unknown: unknownEnvNames(names) }).toEqual({ owner, unknown: [] });
          for (const src of c.envFrom ?? []) {
            if (src.configMapRef) expect(src.configMapRef.name).toBe(configMap!.metadata.name);
            if (src.secretRef) expect(src.secretRef.name).toBe(secretExample!.metadata.name);
            expect(src.prefix).toBeUndefined();
          }
        }
      }
    });

    it('compose app URLs point at compose services, not at loopback', () => {
      for (const name of ['api', 'worker']) {
        const env = serviceEnv(name);
        expect(env.MONGO_SHARD_URIS).toBe('mongodb://mongos:27017/event_processor');
        const hosts = [env.REDIS_URL, env.MONGO_SHARD_URIS, ...(name === 'api' ? [env.DATABASE_URL] : [])].map((u) => new URL(u).hostname);
        for (const h of hosts) expect(Object.keys(services)).toContain(h);
        expect(env.NODE_ENV).toBe('production');
      }
      // Required secret: compose must refuse to start the API without it.
      expect(serviceEnv('api').JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?[^}]+\}$/);
      expect(new URL(serviceEnv('migrate').DATABASE_URL).hostname).toBe('postgres');
    });
  });

  describe('(b) compose roles, replicas and one image', () => {
    it('api runs ROLE=api behind a trusted proxy, worker runs ROLE=worker with 3 replicas', () => {
      expect(serviceEnv('api').ROLE).toBe('api');
      expect(serviceEnv('api').TRUST_PROXY).toBe('true');
      expect(serviceEnv('worker').ROLE).toBe('worker');
      expect(services.worker.deploy?.replicas).toBe(3);
    });

    it('api, worker and migrate use the image built from the top-level Dockerfile', () => {
      const build = (name: string) => {
        const b = services[name].build;
        return typeof b === 'string' ? { context: b, dockerfile: 'Dockerfile' } : { dockerfile: 'Dockerfile', ...b };
      };
      expect(build('api')).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(build('worker')).toEqual(build('api'));
      expect(build('migrate')).toEqual(build('api'));
      expect(services.api.image).toBeTruthy();
      expect(services.worker.image).toBe(services.api.image);
      expect(services.migrate.image).toBe(services.api.image);
      expect(commandOf(services.migrate).join(' ')).toBe('npm run db:migrate');
      expect(commandOf(services.api)).toEqual([]); // the image CMD (node dist/main.js)
      expect(commandOf(services.worker)).toEqual([]);
    });

    it('app services wait for migrations, the sharding init and healthy dependencies', () => {
      for (const name of ['api', 'worker']) {
        const dep = services[name].depends_on;
        expect(dep.migrate.condition).toBe('service_completed_successfully');
        expect(dep['mongo-init'].condition).toBe('service_completed_successfully');
        for (const s of ['redis', 'postgres', 'mongos']) expect(dep[s].condition).toBe('service_healthy');
      }
      expect(services.migrate.depends_on.postgres.condition).toBe('service_healthy');
    });

    it('Redis keeps an append-only file fsynced every second; PostgreSQL 16 and MongoDB 7', () => {
      const args = commandOf(services.redis);
      expect(services.redis.image).toMatch(/^redis:7/);
      expect(flagValue(args, '--appendonly')).toBe('yes');
      expect(flagValue(args, '--appendfsync')).toBe('everysec');
      expect(services.postgres.image).toMatch(/^postgres:16/);
      for (const s of ['mongo-config', 'mongo-shard0', 'mongo-shard1', 'mongo-shard2', 'mongos', 'mongo-init']) {
        expect(services[s]?.image).toMatch(/^mongo:7/);
      }
    });

    it('nginx publishes 8080 and uses deploy/nginx/nginx.conf', () => {
      expect(services.nginx.ports.map(String)).toEqual(expect.arrayContaining([expect.stringMatching(/^8080:/)]));
      expect(services.nginx.volumes.join(' ')).toContain('./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf');
    });
  });

  describe('(c) k8s probes', () => {
    it.each([
      ['api', 3001],
      ['worker', 3002],
    ])('%s: liveness /api/live and readiness /api/ready on port %d', (which, port) => {
      const d = which === 'api' ? apiDeployment : workerDeployment;
      expect(d).toBeDefined();
      const c = d!.spec.template.spec.containers[0];
      expect(c.livenessProbe.httpGet.path).toBe('/api/live');
      expect(resolvePort(c, c.livenessProbe.httpGet.port)).toBe(port);
      expect(c.readinessProbe.httpGet.path).toBe('/api/ready');
      expect(resolvePort(c, c.readinessProbe.httpGet.port)).toBe(port);
      if (c.startupProbe) expect(resolvePort(c, c.startupProbe.httpGet.port)).toBe(port);
      expect((c.ports ?? []).map((p: Obj) => p.containerPort)).toContain(port);
      // the port the app listens on is the one probed
      const portVar = which === 'api' ? 'PORT' : 'HEALTH_PORT';
      expect(Number(configMap!.data[portVar])).toBe(port);
    });

    it('api Service, HPA and both PDBs target the right pods', () => {
      const apiLabels = apiDeployment!.spec.template.metadata.labels;
      const workerLabels = workerDeployment!.spec.template.metadata.labels;
      const svc = ofKind('Service').find((s) => selectorMatches({ matchLabels: s.spec.selector }, apiLabels));
      expect(svc).toBeDefined();
      expect(selectorMatches({ matchLabels: svc!.spec.selector }, workerLabels)).toBe(false);
      const c = apiDeployment!.spec.template.spec.containers[0];
      expect(resolvePort(c, svc!.spec.ports[0].targetPort)).toBe(3001);

      const hpa = ofKind('HorizontalPodAutoscaler')[0];
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: apiDeployment!.metadata.name });
      expect(hpa.spec.metrics.some((m: Obj) => m.type === 'Resource' && m.resource.name === 'cpu')).toBe(true);

      const pdbs = ofKind('PodDisruptionBudget');
      expect(pdbs.filter((p) => selectorMatches(p.spec.selector, apiLabels))).toHaveLength(1);
      expect(pdbs.filter((p) => selectorMatches(p.spec.selector, workerLabels))).toHaveLength(1);
    });

    it('KEDA redis-streams trigger watches the configured stream, group and Redis host', () => {
      const so = ofKind('ScaledObject')[0];
      expect(so).toBeDefined();
      expect(so.spec.scaleTargetRef.name).toBe(workerDeployment!.metadata.name);
      expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      const trigger = so.spec.triggers.find((t: Obj) => t.type === 'redis-streams');
      expect(trigger).toBeDefined();
      const md = trigger.metadata;
      expect(md.stream).toBe(configMap!.data.STREAM_KEY);
      expect(md.stream).toBe('events_stream');
      expect(md.consumerGroup).toBe(configMap!.data.CONSUMER_GROUP);
      expect(md.consumerGroup).toBe('event-processors');
      expect(Number(md.pendingEntriesCount)).toBeGreaterThan(0);
      const redis = new URL(configMap!.data.REDIS_URL);
      const [host, port] = String(md.address).split(':');
      expect(host.split('.')[0]).toBe(redis.hostname);
      expect(port).toBe(redis.port || '6379');
      // KEDA owns the worker's HPA; a second HPA on it would fight
      expect(
        ofKind('HorizontalPodAutoscaler').filter((h) => h.spec.scaleTargetRef.name === workerDeployment!.metadata.name),
      ).toHaveLength(0);
    });

    it('a migration Job runs db:migrate with DATABASE_URL', () => {
      const jobs = ofKind('Job');
      expect(jobs).toHaveLength(1);
      const c = jobs[0].spec.template.spec.containers[0];
      expect([...(c.command ?? []), ...(c.args ?? [])].join(' ')).toMatch(/db:migrate|db-migrate\.js/);
      expect((c.env ?? []).map((e: Obj) => e.name)).toContain('DATABASE_URL');
    });

    it('manifests are namespace-agnostic and run as non-root', () => {
      for (const d of k8sDocs) expect({ file: d.__file, ns: d.metadata?.namespace }).toEqual({ file: d.__file, ns: undefined });
      for (const { owner, spec } of podSpecs()) {
        expect({ owner, runAsNonRoot: spec.securityContext?.runAsNonRoot }).toEqual({ owner, runAsNonRoot: true });
      }
    });
  });

  describe('(d) MongoDB sharding init', () => {
    it('initiates 4 replica sets, adds 3 shards and shards event_processor.events on { userId: "hashed" }', () => {
      const cluster = newCluster();
      runInitScript(cluster);
      const rsConfigs = [...cluster.initiated.values()];
      expect(rsConfigs).toHaveLength(4);
      expect(rsConfigs.filter((c) => c.configsvr === true)).toHaveLength(1);
      expect(cluster.shards).toHaveLength(3);
      expect([...cluster.sharded.entries()]).toEqual([['event_processor.events', { userId: 'hashed' }]]);
      const enable = cluster.commands.find((c) => 'enableSharding' in c.cmd);
      expect(enable?.cmd.enableSharding).toBe('event_processor');
    });

    it('is idempotent: a second run changes nothing', () => {
      const cluster = newCluster();
      runInitScript(cluster);
      cluster.commands.length = 0;
      runInitScript(cluster);
      const ops = cluster.commands.map((c) => Object.keys(c.cmd)[0]);
      expect(ops).not.toContain('replSetInitiate');
      expect(ops).not.toContain('addShard');
      expect(ops).not.toContain('shardCollection');
    });

    it('replica set names and hosts in the script match the compose mongod services', () => {
      const cluster = newCluster();
      runInitScript(cluster);
      for (const [host, cfg] of cluster.initiated) {
        const [svcName, port] = host.split(':');
        const args = commandOf(services[svcName]);
        expect(args[0]).toBe('mongod');
        expect(flagValue(args, '--replSet')).toBe(cfg._id);
        expect(flagValue(args, '--port')).toBe(port);
        expect(args.includes('--configsvr')).toBe(cfg.configsvr === true);
        expect(args.includes('--shardsvr')).toBe(cfg.configsvr !== true);
      }
      const cfgRs = rsConfigs(cluster).find((c) => c.configsvr)!;
      expect(flagValue(commandOf(services.mongos), '--configdb')).toBe(`${cfgRs._id}/${cfgRs.members[0].host}`);
      const init = services['mongo-init'];
      expect(commandOf(init).join(' ')).toContain('init-sharding.js');
      expect(init.volumes.join(' ')).toContain('./deploy/mongo:');
    });
  });

  describe('(e) graceful shutdown outlasts the 10 s drain', () => {
    it('k8s terminationGracePeriodSeconds > 10 for api and worker', () => {
      expect(deployments.length).toBeGreaterThanOrEqual(2);
      for (const d of deployments) {
        expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(10);
      }
    });

    it('compose stop_grace_period > 10 s for api and worker', () => {
      for (const name of ['api', 'worker']) {
        expect(durationSeconds(services[name].stop_grace_period)).toBeGreaterThan(10);
      }
    });
  });

  describe('(f) nginx', () => {
    it('SSE location is unbuffered, uncached, HTTP/1.1 with a long read timeout', () => {
      const sse = nginxBlock(nginxConf, /location\s*=\s*\/api\/v1\/metrics\/live/);
      expect(sse).toBeDefined();
      const d = topLevelDirectives(sse!).map((x) => x.join(' '));
      expect(d).toContain('proxy_buffering off');
      expect(d).toContain('proxy_cache off');
      expect(d).toContain('proxy_http_version 1.1');
      expect(d).toContain("proxy_set_header Connection ''");
      expect(d.some((x) => x.startsWith('proxy_pass '))).toBe(true);
      const readTimeout = d.find((x) => x.startsWith('proxy_read_timeout '))?.split(' ')[1];
      expect(durationSeconds(readTimeout)).toBeGreaterThanOrEqual(3600);
      // proxy_set_header in a location replaces the inherited set: the forwarding headers must be repeated
      for (const h of ['X-Forwarded-For', 'X-Real-IP', 'X-Request-Id']) {
        expect(d.some((x) => x.startsWith(`proxy_set_header ${h} `))).toBe(true);
      }
    });

    it('the default location is buffered and forwards client IP and request id', () => {
      const server = nginxBlock(nginxConf, /server/);
      expect(server).toBeDefined();
      const d = topLevelDirectives(server!).map((x) => x.join(' '));
      expect(d).not.toContain('proxy_buffering off');
      for (const h of ['X-Forwarded-For', 'X-Real-IP', 'X-Request-Id']) {
        expect(d.some((x) => x.startsWith(`proxy_set_header ${h} `))).toBe(true);
      }
      const root = nginxBlock(server!, /location\s+\//);
      expect(root).toContain('proxy_pass http://');
    });

    it('refuses /metrics at the edge (it is unauthenticated; Prometheus scrapes it inside the network)', () => {
      const block = nginxBlock(nginxConf, /location\s*=\s*\/metrics/);
      expect(block).toBeDefined();
      const d = topLevelDirectives(block!).map((x) => x.join(' '));
      expect(d.some((x) => /^return 40[34] /.test(x))).toBe(true);
      expect(d.some((x) => x.startsWith('proxy_pass'))).toBe(false);
    });

    it('client_max_body_size allows 5 MiB batches', () => {
      const sizes = [...nginxConf.matchAll(/client_max_body_size\s+(\S+);/g)].map((m) => nginxSizeBytes(m[1]));
      expect(sizes.length).toBeGreaterThan(0);
      for (const s of sizes) expect(s).toBeGreaterThanOrEqual(5 * 1024 * 1024);
    });

    it('upstream points at the compose api service on its PORT, with keepalive', () => {
      const up = nginxBlock(nginxConf, /upstream\s+\S+/);
      expect(up).toBeDefined();
      const d = topLevelDirectives(up!);
      const server = d.find((x) => x[0] === 'server');
      expect(server?.[1]).toBe(`api:${serviceEnv('api').PORT ?? '3001'}`);
      expect(Number(d.find((x) => x[0] === 'keepalive')?.[1])).toBeGreaterThan(0);
    });
  });

  describe('(g) Dockerfile', () => {
    const stages = dockerStages();
    const runtime = stages[stages.length - 1];
    const ins = (op: string) => runtime.instructions.filter((i) => i.op === op);

    it('is multi-stage on node 20', () => {
      expect(stages.length).toBeGreaterThanOrEqual(3);
      expect(stages.every((s) => s.name)).toBe(true);
      const all = stages.flatMap((s) => s.instructions);
      expect(all.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
      expect(all.some((i) => i.op === 'RUN' && /npm run prisma:generate/.test(i.args))).toBe(true);
      expect(all.some((i) => i.op === 'RUN' && /npm run build/.test(i.args))).toBe(true);
      expect(all.some((i) => i.op === 'RUN' && /npm prune --omit=dev/.test(i.args))).toBe(true);
      const arg = read('Dockerfile').match(/^ARG NODE_IMAGE=(\S+)/m)?.[1];
      const base = runtime.from.replace('${NODE_IMAGE}', arg ?? '');
      expect(base).toMatch(/^node:20(\.\d+)*-(bookworm-slim|alpine)/);
      // the runtime stage starts from a base image, not from a stage that has dev dependencies
      expect(stages.slice(0, -1).map((s) => s.name)).not.toContain(runtime.from);
    });

    it('runtime runs as a non-root USER', () => {
      const users = ins('USER');
      expect(users.length).toBeGreaterThan(0);
      const user = users[users.length - 1].args.split(':')[0];
      expect(['', 'root', '0']).not.toContain(user);
    });

    it('runtime is production, exposes 3001 3002, has the liveness HEALTHCHECK and the CMD', () => {
      expect(ins('ENV').map((i) => i.args).join(' ')).toMatch(/\bNODE_ENV=production\b/);
      expect(ins('EXPOSE').flatMap((i) => i.args.split(/\s+/))).toEqual(expect.arrayContaining(['3001', '3002']));
      const hc = ins('HEALTHCHECK').map((i) => i.args).join(' ');
      expect(hc).toContain('/api/live');
      expect(hc).not.toMatch(/\bcurl\b/);
      expect(JSON.parse(ins('CMD').slice(-1)[0].args)).toEqual(['node', 'dist/main.js']);
    });

    it('runtime has what `npm run db:migrate` needs', () => {
      const copies = ins('COPY').map((i) => i.args);
      for (const dir of ['dist', 'node_modules', 'prisma', 'scripts']) {
        expect(copies.some((c) => new RegExp(`/app/${dir}\\s+\\./${dir}$`).test(c))).toBe(true);
      }
      expect(copies.some((c) => /package\.json/.test(c))).toBe(true);
    });

    it('.dockerignore keeps node_modules, dist and .env out of the build context', () => {
      const lines = read('.dockerignore')
        .split(/\r?\n/)
        .map((l) => l.trim());
      for (const p of ['node_modules', 'dist', '.env', 'src/generated']) expect(lines).toContain(p);
      for (const p of ['prisma', 'scripts', 'src', 'package.json', 'package-lock.json']) expect(lines).not.toContain(p);
    });
  });
});

// ------------------------------------------------------------------------------------------------
// The application's own schema and routes (src/config/app-config.ts, the controllers)
// ------------------------------------------------------------------------------------------------
/** Every variable AppConfig validates (class-validator metadata: the schema itself). */
const CONFIG_KEYS = new Set(getMetadataStorage().getTargetValidationMetadatas(AppConfig, '', true, false).map((m) => m.propertyName));

/** Paths of a controller's routes, from Nest's route metadata. */
function routePaths(controller: Function): string[] {
  const base = String([Reflect.getMetadata(PATH_METADATA, controller) ?? ''].flat()[0]);
  return Object.getOwnPropertyNames(controller.prototype)
    .filter((name) => name !== 'constructor')
    .map((name) => Reflect.getMetadata(PATH_METADATA, controller.prototype[name]) as string | undefined)
    .filter((p): p is string => p !== undefined)
    .map((p) => `/${base}/${p}`.replace(/\/+/g, '/').replace(/(.)\/$/, '$1'));
}

/** Compose's `${VAR:-default}` / `${VAR:?message}` with the default, or `value` for required ones. */
function substitute(v: string, required: Record<string, string>): string {
  return v.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_m, name: string, def?: string) => def ?? required[name] ?? '');
}

const REAL_SECRET = { JWT_SECRET: 'x'.repeat(40) };

describe('deployment files against the application schema and routes', () => {
  it('the schema is read from AppConfig', () => {
    for (const k of ['ROLE', 'PORT', 'HEALTH_PORT', 'REDIS_URL', 'DATABASE_URL', 'JWT_SECRET', 'STREAM_KEY', 'MAX_DELIVERIES']) expect(CONFIG_KEYS).toContain(k);
  });

  it('.env.example documents exactly the variables of the config schema', () => {
    expect([...ENV_NAMES].filter((n) => !CONFIG_KEYS.has(n))).toEqual([]);
    expect([...CONFIG_KEYS].filter((n) => !ENV_NAMES.has(n))).toEqual([]);
  });

  it('every variable set by compose, the ConfigMap, the Secret example and the pod specs is in the config schema', () => {
    const set = new Map<string, string[]>();
    const add = (where: string, names: string[]) => names.forEach((n) => set.set(n, [...(set.get(n) ?? []), where]));
    for (const name of ['api', 'worker', 'migrate']) add(`compose ${name}`, Object.keys(serviceEnv(name)));
    add('ConfigMap', Object.keys(configMap!.data ?? {}));
    add('Secret example', Object.keys({ ...(secretExample!.stringData ?? {}), ...(secretExample!.data ?? {}) }));
    for (const { owner, spec } of podSpecs()) for (const c of spec.containers) add(owner, (c.env ?? []).map((e: Obj) => e.name));
    const unknown = [...set].filter(([n]) => !CONFIG_KEYS.has(n)).map(([n, where]) => `${n} (${where.join(', ')})`);
    expect(unknown).toEqual([]);
  });

  it('workers get no secret (compose and k8s): they read neither PostgreSQL nor tokens', () => {
    expect(Object.keys(serviceEnv('worker'))).not.toEqual(expect.arrayContaining(['DATABASE_URL']));
    expect(Object.keys(serviceEnv('worker'))).not.toEqual(expect.arrayContaining(['JWT_SECRET']));
    const c = workerDeployment!.spec.template.spec.containers[0];
    expect((c.envFrom ?? []).filter((src: Obj) => src.secretRef)).toEqual([]);
    expect((c.env ?? []).filter((e: Obj) => e.valueFrom?.secretKeyRef)).toEqual([]);
  });

  it.each(['api', 'worker'])('the k8s %s container environment passes the config validation (with a real secret, if it gets one)', (which) => {
    const d = which === 'api' ? apiDeployment! : workerDeployment!;
    const c = d.spec.template.spec.containers[0];
    const getsSecret = (c.envFrom ?? []).some((src: Obj) => src.secretRef);
    const env: Record<string, string> = {
      ...configMap!.data,
      ...(getsSecret ? { ...secretExample!.stringData, ...REAL_SECRET } : {}),
      ...Object.fromEntries((c.env ?? []).filter((e: Obj) => 'value' in e).map((e: Obj) => [e.name, String(e.value)])),
    };
    const config = loadAppConfig(env);
    expect(config.ROLE).toBe(which);
    expect(config.NODE_ENV).toBe('production');
  });

  // (migrate runs scripts/db-migrate.js, which reads DATABASE_URL only, not the app config.)
  it.each(['api', 'worker'])('the compose %s environment passes the config validation', (name) => {
    const env = Object.fromEntries(Object.entries(serviceEnv(name)).map(([k, v]) => [k, substitute(v, REAL_SECRET)]));
    expect(loadAppConfig(env).ROLE).toBe(name);
  });

  it('probes, health checks and scrape annotations point at routes the application serves', () => {
    const health = routePaths(HealthController);
    const metrics = routePaths(PrometheusController);
    expect(health).toEqual(expect.arrayContaining(['/api/live', '/api/ready', '/api/health']));
    expect(metrics).toEqual(['/metrics']);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
        if (c[probe]) expect({ d: d.metadata.name, probe, path: health.includes(c[probe].httpGet.path) }).toEqual({ d: d.metadata.name, probe, path: true });
      }
      const ann = d.spec.template.metadata.annotations ?? {};
      expect(metrics).toContain(ann['prometheus.io/path']);
      expect((c.ports ?? []).map((p: Obj) => String(p.containerPort))).toContain(ann['prometheus.io/port']);
    }
    for (const name of ['api', 'worker']) {
      const url = commandOf({ command: services[name].healthcheck.test }).join(' ').match(/http:\/\/127\.0\.0\.1:\d+(\/[^'"]+)/)?.[1];
      expect(health).toContain(url);
    }
  });
});

function rsConfigs(cluster: FakeCluster): Obj[] {
  return [...cluster.initiated.values()];
}
