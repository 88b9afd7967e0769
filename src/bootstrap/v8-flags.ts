import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags the server sets on itself, so every way of starting it (npm start, the image, k8s,
 * the bench) runs with them; NODE_OPTIONS does not accept them.
 *
 * `--liftoff-only`: Prisma 7's query compiler is a 3.4 MB WebAssembly module. V8 first compiles
 * it with its baseline compiler (Liftoff) and then re-compiles the hot functions with TurboFan,
 * whose code and compile-time memory cost ~50 MB of RSS per process — a quarter of an idle API.
 * Measured 2026-12-03: a bare Prisma client after 2,000 key lookups 170 vs 118 MB RSS, the same
 * 0.55–1.1 ms per lookup (the round trip to PostgreSQL dominates); the API idle 215 vs 161 MB,
 * after the ingest load steps 343 vs 306 MB. Only WebAssembly is affected: JavaScript still
 * tiers up, and nothing on the ingestion hot path runs WebAssembly.
 */
export const SERVER_V8_FLAGS: readonly string[] = ['--liftoff-only'];

/** Must run before the first Prisma query (which compiles the module), i.e. before the app boots. */
export function applyServerV8Flags(): void {
  for (const flag of SERVER_V8_FLAGS) setFlagsFromString(flag);
}
