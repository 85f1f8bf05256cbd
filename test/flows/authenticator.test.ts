import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebClient } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import { auditOf, errorSummary, mailSince, visible } from './helpers.ts';

const CODE_IN_MAIL = /Code : (\d{6})/;
const STEP_MS = 30_000;

/** What the user's app shows at that instant (RFC 6238, as totpFor sets it up). */
function appCode(secret: string, atMs: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({ timestamp: atMs });
}

/** The key shown for manual entry, in groups of 4. */
function secretOnPage(html: string): string {
  const shown = /<code class="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(html)?.[1];
  if (!shown) throw new Error(`no key on the page:\n${html}`);
  expect(shown).toMatch(/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
  return shown.replace(/ /g, '');
}

describe.each(ENGINES)('authenticator app (TOTP) on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  const now = () => portal.clock.now().getTime();

  /** An admin past the first connection (e-mail code included), signed in on the returned client. */
  async function admin(login: string): Promise<{ client: WebClient; email: string; userId: string }> {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary })).location).toBe('/verification');
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    return { client, email: user.email, userId: user.userId };
  }

  /** Adds the app from « Mon compte » and returns its secret. */
  async function enrol(client: WebClient): Promise<string> {
    const secret = secretOnPage((await client.get('/compte/authentificateur')).text);
    const done = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: STRONG_PASSWORD, code: appCode(secret, now()) });
    expect(done.location).toBe('/compte?ok=authentificateur-ajoute#securite');
    return secret;
  }

  /** Password, then « Application d'authentification » on the choice page: the client is on the code page. */
  async function toTotpStep(login: string): Promise<WebClient> {
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification/choix');
    const page = await client.post('/verification/choix', { _csrf: client.csrf((await client.get('/verification/choix')).text), methode: 'totp' });
    expect(page.status).toBe(200);
    expect(visible(page.text)).toContain('Ouvrez votre application d’authentification et saisissez le code affiché pour Portail Test.');
    return client;
  }

  const answer = (client: WebClient, code: string) => client.submit('/verification', { code });

  it('enrols with a QR code and a key, confirmed by the current password and a first right code', async () => {
    const { client, email, userId } = await admin('totp1');
    const account = await client.get('/compte');
    expect(visible(account.text)).toContain('Aucune application d’authentification n’est configurée.');
    expect(account.text).toContain('<a href="/compte/authentificateur">Ajouter une application d’authentification</a>');

    const page = await client.get('/compte/authentificateur');
    expect(page.status).toBe(200);
    const secret = secretOnPage(page.text);
    expect(Buffer.from(Secret.fromBase32(secret).buffer).length).toBe(20);
    // The QR code: an SVG made by the server, as a data: image with a text alternative (no inline script or style).
    const img = /<img class="totp-qr" src="data:image\/svg\+xml;base64,([A-Za-z0-9+/=]+)" width="200" height="200" alt="([^"]+)">/.exec(page.text);
    expect(img).not.toBeNull();
    expect(Buffer.from(img![1]!, 'base64').toString('utf8')).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<path[\s\S]*<\/svg>/);
    expect(img![2]).toContain('QR code à scanner avec votre application d’authentification');
    const uri = /<a href="(otpauth:\/\/totp\/[^"]+)">/.exec(page.text)![1]!.replace(/&amp;/g, '&');
    const parsed = new URL(uri);
    expect(parsed.searchParams.get('secret')).toBe(secret);
    expect(parsed.searchParams.get('issuer')).toBe('Portail Test');
    expect([parsed.searchParams.get('digits'), parsed.searchParams.get('period'), parsed.searchParams.get('algorithm')]).toEqual(['6', '30', 'SHA1']);
    expect(decodeURIComponent(parsed.pathname)).toBe('/Portail Test:totp1');
    expect(page.headers.get('content-security-policy')).toContain("img-src 'self' data:");
    // A reload keeps the key the user may have scanned already.
    expect(secretOnPage((await client.get('/compte/authentificateur')).text)).toBe(secret);
    const row = await portal.ctx.db.selectFrom('totp_credentials').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
    expect([row.secret, row.confirmed_at]).toEqual([secret, null]);

    // A wrong password: nothing is confirmed, the field is named.
    const wrongPassword = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: 'Pas-le-bon-42!', code: appCode(secret, now()) });
    expect(wrongPassword.status).toBe(400);
    expect(errorSummary(wrongPassword.text)).toEqual(['« Mot de passe actuel » est incorrect.']);
    // A wrong code: « Code » is named, tied to its field.
    const right = appCode(secret, now());
    const wrongCode = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: STRONG_PASSWORD, code: right === '000000' ? '111111' : '000000' });
    expect(wrongCode.status).toBe(400);
    expect(errorSummary(wrongCode.text)[0]).toMatch(/^« Code » est incorrect/);
    expect(wrongCode.text).toMatch(/<input id="code" name="code" type="text" autocomplete="one-time-code" required aria-required="true" aria-describedby="code-aide code-erreur-0" aria-invalid="true"/);
    const missing = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: STRONG_PASSWORD, code: '' });
    expect(missing.status).toBe(400);
    expect(errorSummary(missing.text)).toEqual(['Le champ « Code » est obligatoire.']);
    expect((await portal.ctx.db.selectFrom('totp_credentials').select('confirmed_at').where('user_id', '=', userId).executeTakeFirstOrThrow()).confirmed_at).toBeNull();

    const since = portal.smtp.messages.length;
    const done = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: STRONG_PASSWORD, code: right.replace(/^(\d{3})/, '$1 ') });
    expect(done.location).toBe('/compte?ok=authentificateur-ajoute#securite');
    const after = visible((await client.follow(done)).text);
    expect(after).toContain('L’application d’authentification est ajoutée.');
    expect(after).toContain('Une application d’authentification est configurée pour votre compte.');
    const mail = await mailSince(portal, since, email, /modification de la sécurité de votre compte/);
    expect(mail.text).toContain("Une application d'authentification a été ajoutée à votre compte.");
    const added = (await auditOf(portal, userId)).filter((e) => e.type === 'second-factor.method.added');
    expect(added.map((e) => e.details)).toEqual([{ method: 'totp' }]);
    // The page now offers the removal, not a new key.
    const manage = await client.get('/compte/authentificateur');
    expect(manage.text).not.toContain('totp-secret');
    expect(manage.text).toContain('action="/compte/authentificateur/supprimer"');
  });

  it('offers the app among the methods at sign-in, and lets the admin in with its code', async () => {
    const { client } = await admin('totp2');
    const secret = await enrol(client);
    portal.clock.advance(STEP_MS); // the enrolment spent this step's code
    const browser = portal.client();
    expect((await browser.submit('/connexion', { identifiant: 'totp2', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification/choix');
    const choice = await browser.get('/verification/choix');
    expect(visible(choice.text)).toContain('Application d’authentification');
    expect(choice.text).toContain('value="totp"');
    const page = await browser.post('/verification/choix', { _csrf: browser.csrf(choice.text), methode: 'totp' });
    expect(page.text).not.toContain('Renvoyer le code');
    const passed = await answer(browser, appCode(secret, now()));
    expect(passed.location).toBe('/compte');
    expect((await browser.get('/compte')).status).toBe(200);
  });

  it('never takes the same step twice; one step of drift is accepted either way, two are refused', async () => {
    const { client } = await admin('totp3');
    const secret = await enrol(client);
    portal.clock.advance(2 * STEP_MS);
    const t0 = now();
    const code = appCode(secret, t0);
    expect((await answer(await toTotpStep('totp3'), code)).location).toBe('/compte');
    // Replayed in another sign-in, within the same 30 s: refused.
    const replay = await answer(await toTotpStep('totp3'), code);
    expect(replay.status).toBe(400);
    expect(errorSummary(replay.text)[0]).toMatch(/^« Code » est incorrect/);

    portal.clock.advance(4 * STEP_MS);
    const t1 = now();
    const drift = await toTotpStep('totp3');
    expect((await answer(drift, appCode(secret, t1 - 2 * STEP_MS))).status).toBe(400);
    expect((await answer(drift, appCode(secret, t1 + 2 * STEP_MS))).status).toBe(400);
    expect((await answer(drift, appCode(secret, t1 - STEP_MS))).location).toBe('/compte');
    expect((await answer(await toTotpStep('totp3'), appCode(secret, t1 + STEP_MS))).location).toBe('/compte');
    // The step just used ahead is spent too: the current one (earlier) no longer passes.
    expect((await answer(await toTotpStep('totp3'), appCode(secret, t1))).status).toBe(400);
  });

  it('removes the app with the current password, with a notice; the e-mail code remains', async () => {
    const { client, email, userId } = await admin('totp4');
    await enrol(client);
    const wrong = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: 'Pas-le-bon-42!' });
    expect(wrong.status).toBe(400);
    expect(errorSummary(wrong.text)).toEqual(['« Mot de passe actuel » est incorrect.']);
    const empty = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: '' });
    expect(errorSummary(empty.text)).toEqual(['Le champ « Mot de passe actuel » est obligatoire.']);
    expect(await portal.ctx.db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', userId).executeTakeFirst()).toBeDefined();

    const removed = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: STRONG_PASSWORD });
    expect(removed.location).toBe('/compte?ok=authentificateur-retire#securite');
    expect(visible((await client.follow(removed)).text)).toContain('L’application d’authentification a été retirée.');
    expect(await portal.ctx.db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', userId).executeTakeFirst()).toBeUndefined();
    await portal.deliver();
    const mail = await portal.smtp.waitFor((m) => m.to.includes(email) && /modification de la sécurité/.test(m.subject) && m.text.includes('retirée'));
    expect(mail.text).toContain("L'application d'authentification a été retirée de votre compte");
    const events = (await auditOf(portal, userId)).filter((e) => e.type.startsWith('second-factor.method.'));
    expect(events.map((e) => [e.type, e.details])).toEqual([
      ['second-factor.method.added', { method: 'totp' }],
      ['second-factor.method.removed', { method: 'totp' }],
    ]);
    // Back to the e-mail code alone: no choice page.
    const browser = portal.client();
    expect((await browser.submit('/connexion', { identifiant: 'totp4', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification');
  });

  it('counts wrong current passwords towards the lockout', async () => {
    const { client, userId } = await admin('totp5');
    await enrol(client);
    for (let i = 1; i < portal.config.lockoutThreshold; i++) {
      expect((await client.submit('/compte/authentificateur', { mot_de_passe_actuel: `Faux-${i}-mot!` })).status).toBe(400);
    }
    const last = await client.submit('/compte/authentificateur', { mot_de_passe_actuel: 'Faux-final-mot!' });
    expect(last.status).toBe(403);
    expect(visible(last.text)).toContain('votre compte est verrouillé');
    expect((await client.get('/compte')).location).toBe('/connexion');
    const failures = (await auditOf(portal, userId)).filter((e) => e.type === 'login.failure');
    expect(failures.at(-1)!.details).toEqual({ reason: 'wrong-current-password', during: 'totp-removed' });
  });

  it('is for signed-in users only', async () => {
    const visitor = portal.client();
    expect((await visitor.get('/compte/authentificateur')).location).toBe('/connexion');
    expect((await visitor.get('/compte/codes-de-secours')).location).toBe('/connexion');
  });
});
