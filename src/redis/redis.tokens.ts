/** The shared command connection (non-blocking commands only). */
export const REDIS_CLIENT = Symbol('REDIS_CLIENT');
