import { hostname } from 'node:os';

/** Identifies this process among replicas: hostname-pid (also the stream consumer name). */
export const replicaId = (): string => `${hostname()}-${process.pid}`;
