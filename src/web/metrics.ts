import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Context } from '../context.ts';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'status'>;
  logins: Counter<'outcome'>;
}

/** Prometheus metrics on /metrics: requests, sign-in outcomes, hasher load, outbox backlog. */
export function createMetrics(ctx: Context): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpRequests = new Counter({ name: 'sesame_http_requests_total', help: 'HTTP requests by method and status', labelNames: ['method', 'status'] as const, registers: [registry] });
  const logins = new Counter({ name: 'sesame_logins_total', help: 'Sign-in attempts by outcome', labelNames: ['outcome'] as const, registers: [registry] });
  new Gauge({ name: 'sesame_hasher_running', help: 'Password hashes running', registers: [registry], collect() { this.set(ctx.hasher.load.running); } });
  new Gauge({ name: 'sesame_hasher_waiting', help: 'Password hashes waiting for a slot', registers: [registry], collect() { this.set(ctx.hasher.load.waiting); } });
  new Gauge({
    name: 'sesame_outbox_pending', help: 'Mails not yet delivered', registers: [registry],
    async collect() { this.set(await ctx.outbox.pending()); },
  });
  return { registry, httpRequests, logins };
}
