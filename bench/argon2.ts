// Raw argon2id verification rate through @node-rs/argon2 itself, with the production parameters of
// src/security/hasher.ts: `concurrency` verifications in flight at all times (as the server's hasher
// semaphore allows), for a fixed duration.

import { Algorithm, hash, verify } from '@node-rs/argon2';
import { OWASP_PARAMS } from '../src/security/hasher.ts';

const PASSWORD = 'Vq8#trombone-Lilas42';

let phc: Promise<string> | undefined;
/** One production-parameter hash to verify against, made once. */
export function productionHash(): Promise<string> {
  phc ??= hash(PASSWORD, { ...OWASP_PARAMS, algorithm: Algorithm.Argon2id });
  return phc;
}

export interface VerifyRate {
  concurrency: number;
  /** Verifications per second. */
  rate: number;
  count: number;
  /** Mean time of one verification as seen by its caller, ms. */
  meanMs: number;
  elapsedMs: number;
}

/**
 * Keeps `concurrency` verifications in flight for durationMs, then waits for the last ones: the rate
 * is completions over the time until the last one ended, so nothing in flight is lost or double-counted.
 */
export async function measureVerifyRate(concurrency: number, durationMs: number): Promise<VerifyRate> {
  const stored = await productionHash();
  // Warm-up: the allocator's first 19 MiB blocks, the thread pool's threads.
  await Promise.all(Array.from({ length: concurrency }, () => verify(stored, PASSWORD)));
  const start = performance.now();
  const end = start + durationMs;
  let count = 0;
  let busy = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      if (!(await verify(stored, PASSWORD))) throw new Error('argon2 verify answered false for the right password');
      busy += performance.now() - t0;
      count++;
    }
  }));
  const elapsed = performance.now() - start;
  return { concurrency, rate: count / (elapsed / 1000), count, meanMs: busy / count, elapsedMs: elapsed };
}

/** Several runs at the same concurrency as one. */
export function mergeRates(parts: VerifyRate[]): VerifyRate {
  const count = parts.reduce((s, p) => s + p.count, 0);
  const elapsedMs = parts.reduce((s, p) => s + p.elapsedMs, 0);
  return {
    concurrency: parts[0]?.concurrency ?? 0,
    rate: count / (elapsedMs / 1000),
    count,
    meanMs: parts.reduce((s, p) => s + p.meanMs * p.count, 0) / count,
    elapsedMs,
  };
}
