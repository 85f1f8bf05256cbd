// « Se connecter »: identifier or e-mail, one answer for every failure after the same work, failure
// count reset by a success, a new session cookie at every sign-in.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import {
  comparableLoginPage, cookieHeader, csrfFrom, cookieOpensAccount, GENERIC_FAILURE, MINUTE, SESSION_COOKIE, sessionSetCookie,
  sessionsOf, sha256Hex, signIn, spyVerify, userRow, WRONG_PASSWORD,
  START_TIMEOUT,
} from './auth-helpers.ts';

describe.each(ENGINES)('Se connecter (%s)', (engine) => {
  let portal: Portal;
  let verify: ReturnType<typeof spyVerify>;
  // A high per-IP limit: every request here comes from 127.0.0.1 and the throttle has its own tests.
  beforeAll(async () => { portal = await startPortal(engine, { SESAME_IP_FAILURE_LIMIT: '100000' }); }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });
  afterEach(() => { verify?.restore(); });

  it('shows « Identifiant » and « Mot de passe », and accepts the identifier or the e-mail, whatever the case', async () => {
    const page = await portal.client().get('/connexion');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/<h1>Se connecter<\/h1>/);
    expect(page.text).toMatch(/<label for="identifiant">Identifiant\b/);
    expect(page.text).toMatch(/<label for="mot_de_passe">Mot de passe\b/);
    expect(page.text).toMatch(/<input id="mot_de_passe" name="mot_de_passe" type="password"/);

    const { login, email } = await portal.activeUser('dupont.anne');
    for (const typed of [login, login.toUpperCase(), `  ${login}  `, email, email.toUpperCase(), 'Dupont.Anne@Hopital.Test.Example']) {
      const client = portal.client();
      const res = await signIn(client, typed, STRONG_PASSWORD);
      expect(res.status, typed).toBe(303);
      expect(res.location, typed).toBe('/compte');
      expect((await client.get('/compte')).status, typed).toBe(200);
    }
    // The password, on the other hand, is case-sensitive.
    const res = await signIn(portal.client(), login, STRONG_PASSWORD.toUpperCase());
    expect(res.status).toBe(401);
  });

  it('gives the same page, status and argon2 work for every kind of failure', async () => {
    const threshold = portal.config.lockoutThreshold;
    const active = await portal.activeUser('echec.actif');
    const locked = await portal.activeUser('echec.verrouille');
    const disabled = await portal.activeUser('echec.desactive');
    const temporary = await portal.createUser('echec.provisoire');
    await portal.ctx.db.updateTable('users').set({ locked_at: portal.clock.now(), failed_count: threshold })
      .where('id', '=', locked.userId).execute();
    await portal.ctx.db.updateTable('users').set({ disabled_at: portal.clock.now() })
      .where('id', '=', disabled.userId).execute();
    // The temporary password is past its validity (SESAME_TEMP_PASSWORD_TTL, 7 days by default).
    expect(portal.config.tempPasswordTtlMs).toBe(7 * 24 * 60 * MINUTE);
    portal.clock.advance(portal.config.tempPasswordTtlMs + MINUTE);

    const cases: [string, string, string][] = [
      ['wrong password', active.login, WRONG_PASSWORD],
      ['unknown identifier', 'personne.inconnue', STRONG_PASSWORD],
      ['unknown e-mail', 'personne.inconnue@hopital.test.example', STRONG_PASSWORD],
      ['locked account, right password', locked.login, STRONG_PASSWORD],
      ['locked account, wrong password', locked.email, WRONG_PASSWORD],
      ['disabled account, right password', disabled.login, STRONG_PASSWORD],
      ['disabled account, wrong password', disabled.email, WRONG_PASSWORD],
      ['expired temporary password, right one', temporary.login, temporary.temporary],
      ['expired temporary password, wrong one', temporary.email, WRONG_PASSWORD],
      ['empty password', active.login, ''],
    ];
    const sessionsBefore = await portal.ctx.db.selectFrom('sessions').select('id').execute();
    verify = spyVerify(portal);
    const pages: string[] = [];
    for (const [label, identifier, password] of cases) {
      const client = portal.client();
      const before = verify.total();
      const res = await signIn(client, identifier, password);
      expect(res.status, label).toBe(401);
      expect(res.text, label).toContain(GENERIC_FAILURE);
      expect(res.headers.get('content-type'), label).toBe('text/html; charset=utf-8');
      expect(sessionSetCookie(res), label).toBeUndefined();
      expect(verify.total() - before, `${label}: argon2 verifications`).toBe(1);
      pages.push(comparableLoginPage(res.text));
      expect((await client.get('/compte')).location, label).toBe('/connexion');
    }
    for (const [i, page] of pages.entries()) expect(page, cases[i]![0]).toBe(pages[0]);
    // None of these signed anyone in.
    expect(await portal.ctx.db.selectFrom('sessions').select('id').execute()).toEqual(sessionsBefore);
  });

  it('accepts a temporary password until it expires', async () => {
    const user = await portal.createUser('provisoire.valide');
    portal.clock.advance(portal.config.tempPasswordTtlMs - MINUTE);
    const res = await signIn(portal.client(), user.login, user.temporary);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/premiere-connexion');
  });

  it('resets the failure count at a successful sign-in', async () => {
    const threshold = portal.config.lockoutThreshold;
    const { login } = await portal.activeUser('compteur.remis');
    for (let i = 1; i < threshold; i++) {
      expect((await signIn(portal.client(), login, `${WRONG_PASSWORD}${i}`)).status).toBe(401);
    }
    expect((await userRow(portal, login)).failed_count).toBe(threshold - 1);
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).location).toBe('/compte');
    expect((await userRow(portal, login)).failed_count).toBe(0);
    // Without the reset these would add up past the threshold and lock the account.
    for (let i = 1; i < threshold; i++) {
      expect((await signIn(portal.client(), login, `${WRONG_PASSWORD}${i}`)).status).toBe(401);
    }
    const row = await userRow(portal, login);
    expect(row.failed_count).toBe(threshold - 1);
    expect(row.locked_at).toBeNull();
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).location).toBe('/compte');
  });

  it('sets a new session cookie at every sign-in and never adopts one chosen by someone else', async () => {
    const { login, userId } = await portal.activeUser('fixation');

    // A cookie planted before sign-in (session fixation) is neither kept nor turned into a session.
    const planted = 'AttackerChosenValue_0123456789abcdefghijklm';
    const victim = portal.client();
    await victim.get('/connexion', { cookie: `${SESSION_COOKIE}=${planted}` });
    const page = await victim.get('/connexion', { cookie: cookieHeader(victim, { [SESSION_COOKIE]: planted }) });
    const res = await victim.post('/connexion', { _csrf: victim.csrf(page.text), identifiant: login, mot_de_passe: STRONG_PASSWORD },
      { cookie: cookieHeader(victim, { [SESSION_COOKIE]: planted }) });
    expect(res.location).toBe('/compte');
    const issued = victim.cookie(SESSION_COOKIE)!;
    expect(issued).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issued).not.toBe(planted);
    expect(await cookieOpensAccount(portal, planted)).toBe(false);
    expect((await sessionsOf(portal, userId)).map((s) => s.token_hash)).not.toContain(sha256Hex(planted));

    // Signing in again from a browser that already has a session: a new cookie, the old one is dead.
    // (a tab opened before: the sign-in page itself now redirects to « Mon compte »)
    expect((await victim.get('/connexion')).location).toBe('/compte');
    const token = await csrfFrom(victim, '/compte');
    const again = await victim.post('/connexion', { _csrf: token, identifiant: login, mot_de_passe: STRONG_PASSWORD });
    expect(again.location).toBe('/compte');
    const second = victim.cookie(SESSION_COOKIE)!;
    expect(second).not.toBe(issued);
    expect(await cookieOpensAccount(portal, issued)).toBe(false);
    expect(await cookieOpensAccount(portal, second)).toBe(true);

    // Two sign-ins elsewhere: two more distinct cookies.
    const others = [portal.client(), portal.client()];
    for (const other of others) expect((await signIn(other, login, STRONG_PASSWORD)).location).toBe('/compte');
    const all = [issued, second, ...others.map((c) => c.cookie(SESSION_COOKIE))];
    expect(new Set(all).size).toBe(4);
    // activeUser's own session, the second one of this browser, the two others: the first one is gone.
    const hashes = (await sessionsOf(portal, userId)).map((s) => s.token_hash);
    expect(hashes.length).toBe(4);
    expect(hashes).not.toContain(sha256Hex(issued));
  });
});
