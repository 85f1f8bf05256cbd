// Sessions: an opaque `__Host-sesame` cookie stored hashed, idle and absolute limits enforced by the
// server, « Se déconnecter » ending it for real, « Mon compte » listing and ending one's own sessions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import {
  auditRows, cookieOpensAccount, csrfFrom, endableSessionIds, HOUR, MINUTE, SESSION_COOKIE, sessionSetCookie,
  sessionsOf, sha256Hex, signIn, signOut,
  START_TIMEOUT,
} from './auth-helpers.ts';

const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const CHROME_ANDROID = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36';

describe.each(ENGINES)('sessions (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine, { SESAME_IP_FAILURE_LIMIT: '100000' }); }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });

  /** A signed-in browser of an existing account. */
  const browser = async (login: string, userAgent?: string) => {
    const client = portal.client(userAgent ? { userAgent } : {});
    const res = await signIn(client, login, STRONG_PASSWORD);
    expect(res.location).toBe('/compte');
    return { client, res, token: client.cookie(SESSION_COOKIE)! };
  };
  const opens = async (client: ReturnType<Portal['client']>) => {
    const res = await client.get('/compte');
    if (res.status === 200) return true;
    expect(res.status).toBe(303);
    expect(res.location).toBe('/connexion');
    return false;
  };

  it('sets an opaque __Host- cookie (HttpOnly, Secure, SameSite=Lax, Path=/, no Domain) and stores only its SHA-256', async () => {
    const { login, userId } = await portal.activeUser('session.cookie');
    const { res, token } = await browser(login);
    const line = sessionSetCookie(res)!;
    expect(line).toBeDefined();
    const [pair, ...attributes] = line.split(';').map((p) => p.trim());
    expect(pair).toBe(`${SESSION_COOKIE}=${token}`);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 random bits, base64url
    const names = attributes.map((a) => a.split('=')[0]!.toLowerCase());
    expect(attributes).toContain('Path=/');
    expect(names).toContain('httponly');
    expect(names).toContain('secure');
    expect(attributes).toContain('SameSite=Lax');
    expect(names).not.toContain('domain');
    expect(token).not.toContain(login);
    expect(token).not.toContain(userId);

    const rows = await sessionsOf(portal, userId);
    const hashes = rows.map((r) => r.token_hash);
    expect(hashes).toContain(sha256Hex(token));
    expect(hashes).not.toContain(token);
    const everywhere = await portal.ctx.db.selectFrom('sessions').select(['token_hash', 'id']).execute();
    expect(everywhere.some((r) => r.token_hash === token || r.id === token)).toBe(false);
    for (const r of rows) expect(r.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ends a session idle for more than SESAME_SESSION_IDLE_TTL (30 min), server-side', async () => {
    expect(portal.config.sessionIdleTtlMs).toBe(30 * MINUTE);
    const { login, userId } = await portal.activeUser('session.inactive');
    const { client, token } = await browser(login);
    portal.clock.advance(29 * MINUTE);
    expect(await opens(client)).toBe(true);
    portal.clock.advance(29 * MINUTE); // 58 minutes after sign-in, but only 29 idle
    expect(await opens(client)).toBe(true);
    portal.clock.advance(31 * MINUTE);
    expect(await opens(client)).toBe(false);
    // Gone from the database, so moving the clock back would not revive it.
    expect((await sessionsOf(portal, userId)).map((s) => s.token_hash)).not.toContain(sha256Hex(token));
  });

  it('ends a session at SESAME_SESSION_MAX_TTL (8 h) even with activity every 20 minutes', async () => {
    expect(portal.config.sessionMaxTtlMs).toBe(8 * HOUR);
    const { login } = await portal.activeUser('session.absolue');
    const { client } = await browser(login);
    let elapsed = 0;
    while (elapsed + 20 * MINUTE < 8 * HOUR) {
      portal.clock.advance(20 * MINUTE);
      elapsed += 20 * MINUTE;
      expect(await opens(client), `after ${elapsed / MINUTE} min`).toBe(true);
    }
    portal.clock.advance(8 * HOUR - elapsed - MINUTE); // 7 h 59
    expect(await opens(client)).toBe(true);
    portal.clock.advance(MINUTE); // 8 h
    expect(await opens(client)).toBe(false);
  });

  it('« Se déconnecter » ends the session on the server: the old cookie no longer works when replayed', async () => {
    const { login, userId } = await portal.activeUser('session.fin');
    const { client, token } = await browser(login, FIREFOX_WINDOWS);
    const before = (await sessionsOf(portal, userId)).length;
    const res = await signOut(client);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/connexion?fin');
    const cleared = sessionSetCookie(res)!;
    expect(cleared).toMatch(/^__Host-sesame=;/);
    expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970|Max-Age=0/);
    expect(client.cookie(SESSION_COOKIE)).toBeUndefined();
    expect((await client.follow(res)).text).toContain('Vous êtes déconnecté.');
    expect(await cookieOpensAccount(portal, token)).toBe(false);
    const rows = await sessionsOf(portal, userId);
    expect(rows).toHaveLength(before - 1);
    expect(rows.map((r) => r.token_hash)).not.toContain(sha256Hex(token));
    const ended = (await auditRows(portal, userId)).filter((e) => e.type === 'session.ended');
    expect(ended.map((e) => e.details)).toEqual([{ reason: 'logout' }]);
    expect(ended[0]!.user_agent).toBe(FIREFOX_WINDOWS);
  });

  it('« Mon compte » lists the active sessions with their device and last activity, and ends another one', async () => {
    const { login, userId } = await portal.activeUser('session.liste');
    // The session activeUser opened is ended first, to list only these two.
    await portal.ctx.db.deleteFrom('sessions').where('user_id', '=', userId).execute();
    const desk = await browser(login, FIREFOX_WINDOWS);
    portal.clock.advance(5 * MINUTE);
    const phone = await browser(login, CHROME_ANDROID);
    portal.clock.advance(2 * MINUTE);

    const page = await desk.client.get('/compte');
    expect(page.status).toBe(200);
    const section = /<section aria-labelledby="sessions">([\s\S]*?)<\/section>/.exec(page.text)?.[1] ?? '';
    expect(section).toContain('Mes sessions actives');
    const rows = [...section.matchAll(/<tr>\s*<td>([\s\S]*?)<\/tr>/g)].map((m) => m[1]!);
    expect(rows).toHaveLength(2);
    const deskRow = rows.find((r) => r.includes('Firefox sur Windows'))!;
    const phoneRow = rows.find((r) => r.includes('Chrome sur Android'))!;
    expect(deskRow).toContain('(Cette session)');
    expect(deskRow).not.toContain('/fin');
    expect(phoneRow).not.toContain('Cette session');
    // Last activity, in Paris time: this request for the desk, two minutes ago for the phone.
    const paris = (d: Date) => new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'short', timeZone: 'Europe/Paris' }).format(d);
    expect(deskRow).toContain(paris(portal.clock.now()));
    expect(phoneRow).toContain(paris(new Date(portal.clock.now().getTime() - 2 * MINUTE)));
    expect(phoneRow).toMatch(/<button type="submit"[^>]*>Mettre fin<\/button>/);

    const phoneRowInDb = (await sessionsOf(portal, userId)).find((s) => s.user_agent === CHROME_ANDROID)!;
    expect(endableSessionIds(page.text)).toEqual([phoneRowInDb.id]);
    expect(await opens(phone.client)).toBe(true);

    const end = await desk.client.post(`/compte/sessions/${phoneRowInDb.id}/fin`, { _csrf: desk.client.csrf(page.text) });
    expect(end.status).toBe(303);
    expect(end.location).toBe('/compte?ok=session-fin');
    expect((await desk.client.follow(end)).text).toContain('La session a pris fin.');
    expect(await opens(phone.client)).toBe(false);
    expect(await cookieOpensAccount(portal, phone.token)).toBe(false);
    expect(await opens(desk.client)).toBe(true);
    expect(endableSessionIds((await desk.client.get('/compte')).text)).toEqual([]);
    const ended = (await auditRows(portal, userId)).filter((e) => e.type === 'session.ended');
    expect(ended.map((e) => e.details)).toEqual([{ reason: 'ended-from-account' }]);
  });

  it("cannot end someone else's session by its id", async () => {
    const alice = await portal.activeUser('session.alice');
    const bob = await portal.activeUser('session.bob');
    const [aliceSession] = await sessionsOf(portal, alice.userId);
    const token = await csrfFrom(bob.client, '/compte');
    const res = await bob.client.post(`/compte/sessions/${aliceSession!.id}/fin`, { _csrf: token });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/compte'); // and no « La session a pris fin »: nothing ended
    expect(await opens(alice.client)).toBe(true);
    expect((await sessionsOf(portal, alice.userId)).map((s) => s.id)).toEqual([aliceSession!.id]);
    expect(await opens(bob.client)).toBe(true);
    expect((await auditRows(portal, bob.userId)).filter((e) => e.type === 'session.ended')).toEqual([]);
    expect((await auditRows(portal, alice.userId)).filter((e) => e.type === 'session.ended')).toEqual([]);
    // Nor without a session of one's own.
    const anonymous = portal.client();
    const anonymousToken = await csrfFrom(anonymous, '/connexion');
    const refused = await anonymous.post(`/compte/sessions/${aliceSession!.id}/fin`, { _csrf: anonymousToken });
    expect(refused.status).toBe(303);
    expect(refused.location).toBe('/connexion');
    expect(await opens(alice.client)).toBe(true);
  });
});
