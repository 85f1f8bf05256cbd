// A small closed-loop load generator: N workers, each sending its next request as soon as the
// previous one is answered, over keep-alive node:http connections (one per worker), for a fixed
// duration. node:http rather than fetch: fetch (undici) costs several times more CPU per request in
// the client, and on a 2-core machine every cycle the client burns is taken from the server.

import http from 'node:http';
import { decodeEntities } from '../test/support/http.ts';

export interface Reply {
  status: number;
  location: string | undefined;
  setCookie: string[];
  body: string;
}

export interface Requester {
  request(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string, keepBody?: boolean): Promise<Reply>;
  close(): void;
}

export function requester(baseUrl: string, maxSockets: number): Requester {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  return {
    request(method, path, headers, body, keepBody = false) {
      return new Promise<Reply>((resolve, reject) => {
        const req = http.request({
          agent,
          host: url.hostname,
          port: url.port,
          method,
          path,
          headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => {
            if (keepBody) chunks.push(c);
          });
          res.on('end', () => resolve({
            status: res.statusCode ?? 0,
            location: typeof res.headers.location === 'string' ? res.headers.location : undefined,
            setCookie: res.headers['set-cookie'] ?? [],
            body: keepBody ? Buffer.concat(chunks).toString('utf8') : '',
          }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

export interface PhaseResult {
  /** Successful requests per second over the measured time. */
  rate: number;
  ok: number;
  errors: number;
  /** Error count by kind: "503", "401", "ECONNRESET"… */
  errorKinds: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** Measured time, ms. */
  elapsedMs: number;
  /** Latencies of the successful requests, sorted. */
  latencies: number[];
}

export interface PhaseOptions {
  workers: number;
  warmupMs: number;
  durationMs: number;
  /**
   * false: only what completes inside the window counts, and the window is the measured time (for
   * fast requests). true: no request starts after the window, the ones in flight count, and the
   * measured time runs until the last one ends — as the raw argon2 measure does (for slow requests,
   * whose partial work at the end of a short window would otherwise be lost).
   */
  drain?: boolean;
  /** Sends one request for worker w; resolves to true when the answer is the expected one, or to an error kind. */
  step(worker: number): Promise<true | string>;
  /** Called every sampleMs while the phase runs (memory sampling). */
  onSample?: () => void;
  sampleMs?: number;
}

/**
 * Runs the workers for warmupMs + durationMs. Requests that complete during the warm-up are not
 * counted; after the window no new request starts, and the phase ends when the ones in flight are answered.
 */
export async function runPhase(opts: PhaseOptions): Promise<PhaseResult> {
  const start = performance.now();
  const windowStart = start + opts.warmupMs;
  const windowEnd = windowStart + opts.durationMs;
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  let last = windowEnd;
  const sampler = opts.onSample ? setInterval(opts.onSample, opts.sampleMs ?? 100) : undefined;

  const worker = async (w: number) => {
    while (performance.now() < windowEnd) {
      const t0 = performance.now();
      let outcome: true | string;
      try {
        outcome = await opts.step(w);
      } catch (err) {
        outcome = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      }
      const t1 = performance.now();
      if (t1 < windowStart || (t1 > windowEnd && !opts.drain)) continue;
      last = Math.max(last, t1);
      if (outcome === true) {
        ok++;
        latencies.push(t1 - t0);
      } else {
        errors++;
        errorKinds[outcome] = (errorKinds[outcome] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w)));
  } finally {
    if (sampler) clearInterval(sampler);
  }
  const elapsedMs = opts.drain ? last - windowStart : opts.durationMs;
  return summarise(ok, errors, errorKinds, latencies, elapsedMs);
}

/** Several runs of the same phase as one: rates over the summed time, percentiles over all requests. */
export function mergePhases(parts: PhaseResult[]): PhaseResult {
  const errorKinds: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  return summarise(
    parts.reduce((s, p) => s + p.ok, 0),
    parts.reduce((s, p) => s + p.errors, 0),
    errorKinds,
    parts.flatMap((p) => p.latencies),
    parts.reduce((s, p) => s + p.elapsedMs, 0),
  );
}

function summarise(ok: number, errors: number, errorKinds: Record<string, number>, latencies: number[], elapsedMs: number): PhaseResult {
  latencies.sort((a, b) => a - b);
  return {
    rate: ok / (elapsedMs / 1000),
    ok,
    errors,
    errorKinds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    meanMs: latencies.length ? latencies.reduce((s, x) => s + x, 0) / latencies.length : NaN,
    maxMs: latencies.length ? latencies[latencies.length - 1]! : NaN,
    elapsedMs,
    latencies,
  };
}

/**
 * One request every intervalMs on its own connection until stop() — a light probe of how long a
 * cheap request waits while the server is under load. Resolves to the sorted latencies.
 */
export function probe(target: Requester, path: string, intervalMs: number): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const res = await target.request('GET', path, {}).catch(() => undefined);
      if (res?.status === 200) latencies.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return latencies.sort((a, b) => a - b);
    },
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** name=value pairs of Set-Cookie lines (attributes dropped). */
export function cookiesFrom(setCookie: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of setCookie) {
    const pair = line.split(';')[0] ?? '';
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

/** Applies Set-Cookie lines to a name → value jar; an expired cookie (Max-Age ≤ 0, past Expires) is removed. */
export function updateJar(jar: Map<string, string>, setCookie: string[]): void {
  for (const line of setCookie) {
    const [pair = '', ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const expired = attrs.some((a) => {
      const [k = '', v = ''] = a.split('=').map((x) => x.trim());
      if (k.toLowerCase() === 'max-age') return Number(v) <= 0;
      if (k.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
      return false;
    });
    if (expired) jar.delete(name);
    else jar.set(name, pair.slice(eq + 1).trim());
  }
}

export function cookieHeader(jar: Map<string, string>): string {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

/** The value of the page's hidden _csrf input. */
export function csrfFrom(html: string): string {
  const tag = /<input\b[^>]*\bname="_csrf"[^>]*>/i.exec(html)?.[0];
  const value = tag ? /\bvalue="([^"]*)"/i.exec(tag)?.[1] : undefined;
  if (value === undefined) throw new Error(`no <input name="_csrf"> in page:\n${html.slice(0, 500)}`);
  return decodeEntities(value);
}
