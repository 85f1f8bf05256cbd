import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDate } from '../../src/web/user-agent.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import type { WebClient } from '../support/http.ts';

const FIREFOX_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
const DEVICE_COOKIE = '__Host-sesame-appareil';

/**
 * « Mail à chaque connexion depuis un navigateur inconnu ». Rule under test: the very first browser of an
 * account (its first connection, with the temporary password) is recorded silently; any later sign-in
 * creating a session from a browser without this user's device cookie is mailed and audited.
 */
describe.each(ENGINES)('new-browser sign-in mail on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  async function newBrowserMails(email: string): Promise<number> {
    const rows = await portal.ctx.db.selectFrom('outbox').select('id')
      .where('recipient', '=', email).where('subject', 'like', '%nouvelle connexion%').execute();
    return rows.length;
  }
  async function events(userId: string) {
    return portal.ctx.db.selectFrom('audit_events').select(['type', 'details']).where('user_id', '=', userId).where('type', '=', 'login.new-browser').execute();
  }
  async function signOut(client: WebClient) {
    const page = await client.get('/compte');
    expect((await client.post('/deconnexion', { _csrf: client.csrf(page.text) })).location).toBe('/connexion?fin');
  }
  async function signIn(client: WebClient, login: string, password = STRONG_PASSWORD) {
    const res = await client.submit('/connexion', { identifiant: login, mot_de_passe: password });
    expect(res.location).toBe('/compte');
    return res;
  }

  it('records the first browser silently, mails a sign-in from a new browser, not from a known one', async () => {
    const user = await portal.activeUser('nb.camille');
    // First connection (temporary password): the browser got its device cookie, no mail.
    expect(user.client.cookie(DEVICE_COOKIE)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await newBrowserMails(user.email)).toBe(0);
    const known = await portal.ctx.db.selectFrom('known_browsers').selectAll().where('user_id', '=', user.userId).execute();
    expect(known).toHaveLength(1);
    expect(known[0]!.device_hash).not.toBe(user.client.cookie(DEVICE_COOKIE)); // stored hashed

    // The same browser again: known, no mail, cookie unchanged.
    const cookie = user.client.cookie(DEVICE_COOKIE);
    await signOut(user.client);
    await signIn(user.client, user.login);
    expect(user.client.cookie(DEVICE_COOKIE)).toBe(cookie);
    expect(await newBrowserMails(user.email)).toBe(0);
    expect(await events(user.userId)).toEqual([]);

    // Another browser: a mail, an audit event, a device cookie (1 year, HttpOnly, Secure, SameSite=Lax).
    const other = portal.client({ userAgent: FIREFOX_WINDOWS });
    const res = await signIn(other, user.login);
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${DEVICE_COOKIE}=`))!;
    expect(setCookie).toMatch(/Max-Age=31536000/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/Secure/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Path=\//);
    const mail = await portal.mail(user.email, /nouvelle connexion/);
    expect(mail.text).toContain('Firefox sur Windows');
    expect(mail.text).toContain('127.0.0.1');
    expect(mail.text).toContain(formatDate(portal.clock.now(), 'fr'));
    expect(mail.text).toContain("Si ce n'était pas vous, changez votre mot de passe et contactez le support technique");
    const audited = await events(user.userId);
    expect(audited).toHaveLength(1);
    expect(audited[0]!.details).toMatchObject({ device: 'Firefox sur Windows', mailed: true });

    // That browser is now known too.
    await signOut(other);
    await signIn(other, user.login);
    expect(await newBrowserMails(user.email)).toBe(1);
  });

  it('ignores a forged device cookie: a new token is issued and the sign-in is announced', async () => {
    const user = await portal.activeUser('nb.forged');
    const other = portal.client({ headers: {} });
    const page = await other.get('/connexion');
    const res = await other.post('/connexion', { _csrf: other.csrf(page.text), identifiant: user.login, mot_de_passe: STRONG_PASSWORD }, { cookie: `${Object.entries(other.cookies()).map(([k, v]) => `${k}=${v}`).join('; ')}; ${DEVICE_COOKIE}=not-a-token` });
    expect(res.location).toBe('/compte');
    expect(res.headers.getSetCookie().some((c) => /^__Host-sesame-appareil=[A-Za-z0-9_-]{43};/.test(c))).toBe(true);
    expect(await newBrowserMails(user.email)).toBe(1);
  });

  it('mails after the second factor too (support staff always pass one)', async () => {
    const created = await portal.createUser('nb.support', { roles: ['support'] });
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: created.login, mot_de_passe: created.temporary })).location).toBe('/verification');
    let code = /Code : (\d{6})/.exec((await portal.mail(created.email, /code/i)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    expect(await newBrowserMails(created.email)).toBe(0); // first browser of the account

    const other = portal.client({ userAgent: FIREFOX_WINDOWS });
    expect((await other.submit('/connexion', { identifiant: created.login, mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification');
    expect(await newBrowserMails(created.email)).toBe(0); // no session yet: nothing announced
    const mails = await portal.ctx.db.selectFrom('outbox').select('body_text').where('recipient', '=', created.email).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
    code = /Code : (\d{6})/.exec(mails.body_text ?? '')![1]!;
    const done = await other.submit('/verification', { code });
    expect(done.location).toBe('/compte');
    expect(other.cookie(DEVICE_COOKIE)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await newBrowserMails(created.email)).toBe(1);
    expect(await events(created.userId)).toHaveLength(1);
  });

  it('does not mail when SESAME_NEW_BROWSER_MAIL is off, but still records and audits the browser', async () => {
    const user = await portal.activeUser('nb.quiet');
    const config = portal.ctx.config as { newBrowserMail: boolean };
    config.newBrowserMail = false;
    try {
      const other = portal.client({ userAgent: FIREFOX_WINDOWS });
      await signIn(other, user.login);
    } finally {
      config.newBrowserMail = true;
    }
    expect(await newBrowserMails(user.email)).toBe(0);
    const audited = await events(user.userId);
    expect(audited).toHaveLength(1);
    expect(audited[0]!.details).toMatchObject({ mailed: false });
    expect(await portal.ctx.db.selectFrom('known_browsers').select('user_id').where('user_id', '=', user.userId).execute()).toHaveLength(2);
  });
});
