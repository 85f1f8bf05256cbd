// Per-IP throttling against password spraying: SESAME_IP_FAILURE_LIMIT failures per address and
// SESAME_IP_FAILURE_WINDOW, then 429 without hashing; X-Forwarded-For only through a trusted proxy.
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { buildApp } from '../../src/web/app.ts';
import { WebClient } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import { GENERIC_FAILURE, sessionsOf, signIn, signInFrom, spyVerify, START_TIMEOUT, WRONG_PASSWORD } from './auth-helpers.ts';

const LIMIT = 5;
const THROTTLED = /Trop de tentatives de connexion ont échoué depuis votre réseau\. Réessayez dans 15 minutes\./;

describe.each(ENGINES)('per-IP throttle (%s)', (engine) => {
  let portal: Portal;
  let spies: { restore(): void }[] = [];
  const apps: FastifyInstance[] = [];
  beforeAll(async () => { portal = await startPortal(engine, { SESAME_IP_FAILURE_LIMIT: String(LIMIT) }); }, START_TIMEOUT);
  afterAll(async () => {
    for (const app of apps) await app.close();
    await portal?.close();
  });
  afterEach(() => {
    for (const s of spies) s.restore();
    spies = [];
  });

  const windowMs = () => portal.config.ipFailureWindowMs;
  /** Moves the clock to the start of the next failure-counting window: every address starts afresh. */
  const nextWindow = () => portal.clock.advance(windowMs() - (portal.clock.now().getTime() % windowMs()));
  /** Counts argon2 work of any kind (verifications and hashes). */
  const spyHashing = () => {
    const verify = spyVerify(portal);
    const hash = vi.spyOn(portal.ctx.hasher, 'hash');
    spies.push(verify, { restore: () => hash.mockRestore() });
    return () => verify.total() + hash.mock.calls.length;
  };
  /**
   * The same portal (same database, clock and hasher) behind another front with another
   * SESAME_TRUST_PROXY, parsed by loadConfig as at start-up: cheaper than a second database.
   */
  const frontWithTrust = async (trust: string) => {
    const config = { ...portal.config, trustProxy: loadConfig({ SESAME_TRUST_PROXY: trust }).trustProxy };
    const app = await buildApp({ ...portal.ctx, config });
    apps.push(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  };
  const failuresIn = async (ip: string) => portal.ctx.db.selectFrom('audit_events').select(['type', 'ip', 'details'])
    .where('ip', '=', ip).where('at', '>=', new Date(portal.clock.now().getTime() - (portal.clock.now().getTime() % windowMs())))
    .orderBy('id').execute();

  it('answers 429 in French with Retry-After after the limit, without hashing, for that address only, until the next window', async () => {
    expect(portal.config.ipFailureLimit).toBe(LIMIT);
    expect(windowMs()).toBe(15 * 60_000); // SESAME_IP_FAILURE_WINDOW's default
    nextWindow();
    const { login } = await portal.activeUser('spray.cible');
    // Spraying: one wrong password over several accounts, known or not.
    for (let i = 1; i <= LIMIT; i++) {
      const res = await signIn(portal.client(), i === 1 ? login : `spray.inconnu${i}`, WRONG_PASSWORD);
      expect(res.status, `failure ${i}`).toBe(401);
      expect(res.text).toContain(GENERIC_FAILURE);
    }
    const hashing = spyHashing();
    for (const [identifier, password] of [[`spray.inconnu${LIMIT + 1}`, WRONG_PASSWORD], [login, STRONG_PASSWORD]] as const) {
      const client = portal.client();
      const res = await signIn(client, identifier, password);
      expect(res.status, identifier).toBe(429);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.text).toMatch(/<html lang="fr">/);
      expect(res.text).toMatch(THROTTLED);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(windowMs() / 1000);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('__Host-sesame='))).toBe(false);
      expect((await client.get('/compte')).location).toBe('/connexion');
    }
    expect(hashing()).toBe(0);
    const events = await failuresIn('127.0.0.1');
    expect(events.filter((e) => e.type === 'login.failure')).toHaveLength(LIMIT);
    expect(events.filter((e) => e.type === 'login.throttled')).toHaveLength(2);

    // Another address is not affected: its attempts are checked (hashed) normally.
    const elsewhere = await signInFrom(portal, '127.0.0.2', login, STRONG_PASSWORD);
    expect(elsewhere.status).toBe(303);
    expect(elsewhere.headers.location).toBe('/compte');
    const wrongElsewhere = await signInFrom(portal, '127.0.0.3', login, WRONG_PASSWORD);
    expect(wrongElsewhere.status).toBe(401);
    expect(hashing()).toBe(2);

    // Still refused at the very end of the window; let in again when the next one starts.
    portal.clock.advance(windowMs() - (portal.clock.now().getTime() % windowMs()) - 1);
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).status).toBe(429);
    portal.clock.advance(1);
    const again = await signIn(portal.client(), login, STRONG_PASSWORD);
    expect(again.status).toBe(303);
    expect(again.location).toBe('/compte');
  });

  it('ignores X-Forwarded-For without SESAME_TRUST_PROXY: changing it does not escape the throttle', async () => {
    expect(portal.config.trustProxy).toBe(false);
    nextWindow();
    const { login } = await portal.activeUser('spray.xff');
    for (let i = 1; i <= LIMIT; i++) {
      const client = portal.client({ forwardedFor: `203.0.113.${i}` });
      expect((await signIn(client, login, WRONG_PASSWORD)).status).toBe(401);
    }
    const hashing = spyHashing();
    for (const forwardedFor of ['203.0.113.99', '198.51.100.1', '10.0.0.1, 203.0.113.7']) {
      const res = await signIn(portal.client({ forwardedFor }), login, STRONG_PASSWORD);
      expect(res.status, forwardedFor).toBe(429);
    }
    expect(hashing()).toBe(0);
    // The audit log has the real peer, never the claimed address.
    const events = await failuresIn('127.0.0.1');
    expect(events.filter((e) => e.type === 'login.failure')).toHaveLength(LIMIT);
    const claimed = await portal.ctx.db.selectFrom('audit_events').select('id').where('ip', 'like', '203.0.113.%').execute();
    expect(claimed).toEqual([]);
  });

  describe.each([
    { trust: 'true', honoured: true },
    { trust: '127.0.0.1', honoured: true },
    { trust: '10.0.0.1', honoured: false }, // a proxy elsewhere: the loopback peer is not it
  ])('with SESAME_TRUST_PROXY=$trust', ({ trust, honoured }) => {
    it(honoured ? 'throttles the forwarded address, lets the others in, and audits the forwarded address' : 'keeps using the peer address', async () => {
      const url = await frontWithTrust(trust);
      nextWindow();
      const { login, userId } = await portal.activeUser(`spray.proxy.${trust.replace(/\W/g, '')}`);
      const attacker = (n: number) => new WebClient(url, { forwardedFor: `198.51.100.${n}` });
      // Spraying from one address: one wrong password over several accounts.
      for (let i = 1; i <= LIMIT; i++) expect((await signIn(attacker(7), `spray.proxy.inconnu${i}`, WRONG_PASSWORD)).status).toBe(401);
      expect((await signIn(attacker(7), login, STRONG_PASSWORD)).status).toBe(429);

      const hashing = spyHashing();
      const colleague = new WebClient(url, { forwardedFor: '198.51.100.8' });
      const res = await signIn(colleague, login, STRONG_PASSWORD);
      if (!honoured) {
        expect(res.status).toBe(429);
        expect(hashing()).toBe(0);
        expect((await failuresIn('127.0.0.1')).filter((e) => e.type === 'login.failure')).toHaveLength(LIMIT);
        expect(await failuresIn('198.51.100.7')).toEqual([]);
        expect(await failuresIn('198.51.100.8')).toEqual([]);
        return;
      }
      expect(res.status).toBe(303);
      expect(res.location).toBe('/compte');
      expect(hashing()).toBe(1);
      const failures = await failuresIn('198.51.100.7');
      expect(failures.filter((e) => e.type === 'login.failure')).toHaveLength(LIMIT);
      expect(failures.filter((e) => e.type === 'login.throttled')).toHaveLength(1);
      const success = (await failuresIn('198.51.100.8')).filter((e) => e.type === 'login.success');
      expect(success).toHaveLength(1);
      expect((await sessionsOf(portal, userId)).map((s) => s.ip)).toContain('198.51.100.8');
      // The proxy's own address is not the one throttled.
      expect((await failuresIn('127.0.0.1')).filter((e) => e.type === 'login.failure')).toHaveLength(0);
    });
  });
});
