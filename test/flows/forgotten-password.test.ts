import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashToken } from '../../src/domain/tokens.ts';
import { captchaFields } from '../support/captcha.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import {
  CONFIRMATION_SENTENCE,
  HOUR,
  PORTAL_NAME,
  PORTAL_START_TIMEOUT,
  PUBLIC_URL,
  SUPPORT_EMAIL,
  SUPPORT_PHONE,
  auditOf,
  errorSummary,
  forgotIdentifier,
  forgotPassword,
  labels,
  mailSince,
  mailsTo,
  rawRequest,
  requestResetLink,
  resetLinkOf,
  signIn,
  signedIn,
  visible,
} from './helpers.ts';

const NEW_PASSWORD = 'Retrouve#Sesame-2026';

/** A cheap proof of work: the captcha is still answered and checked for real, only faster. */
const ENV = { SESAME_CAPTCHA_DIFFICULTY: '1000' };

/** The page as any visitor would compare it: CSRF tokens and the echoed value set aside. */
function comparable(html: string, typed: string): string {
  return html.replace(/name="_csrf" value="[^"]*"/g, 'name="_csrf"').split(typed).join('[saisie]');
}

describe.each(ENGINES)('Mot de passe oublié, identifiant oublié (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => {
    portal = await startPortal(engine, ENV);
  }, PORTAL_START_TIMEOUT);
  afterAll(async () => {
    await portal?.close();
  });

  it('answers identically whether the account exists or not, and mails only an existing account', async () => {
    const { login, email } = await portal.createUser('fp-same');
    const existing = await forgotPassword(portal.client(), login);
    const unknown = await forgotPassword(portal.client(), 'fp-nope');
    expect(existing.status).toBe(200);
    expect(unknown.status).toBe(existing.status);
    expect(unknown.headers.get('content-type')).toBe(existing.headers.get('content-type'));
    expect(comparable(unknown.text, 'fp-nope')).toBe(comparable(existing.text, login));
    expect(visible(existing.text)).toContain(`Votre demande de changement de mot de passe est prise en compte. Si un compte correspond à « ${login} », un mail vient d’être envoyé à l’adresse associée. Le lien qu’il contient est valable 24 heures.`);

    // By e-mail address too.
    const byAddress = await forgotPassword(portal.client(), email);
    const unknownAddress = await forgotPassword(portal.client(), 'nobody@hopital.test.example');
    expect([byAddress.status, unknownAddress.status]).toEqual([200, 200]);
    expect(comparable(unknownAddress.text, 'nobody@hopital.test.example')).toBe(comparable(byAddress.text, email));

    const since = portal.smtp.messages.length;
    expect(await portal.deliver()).toEqual({ sent: 2, failed: 0 });
    expect(portal.smtp.messages.slice(since).map((m) => m.to)).toEqual([[email], [email]]);
  });

  it('mails a « Valider » link built on SESAME_PUBLIC_URL, never on the Host header; only its SHA-256 is stored', async () => {
    const { login, email, userId } = await portal.createUser('fp-link', { name: 'Louise Bernard' });
    const client = portal.client();
    const page = await client.get('/mot-de-passe-oublie');
    const body = new URLSearchParams({ ...(await captchaFields(page.text)), identifiant: login, _csrf: client.csrf(page.text) });
    const cookie = Object.entries(client.cookies()).map(([k, v]) => `${k}=${v}`).join('; ');
    const forged = await rawRequest(client.baseUrl, 'POST', '/mot-de-passe-oublie', {
      host: 'evil.example',
      'x-forwarded-host': 'evil.example',
      'x-forwarded-proto': 'http',
      cookie,
      'content-type': 'application/x-www-form-urlencoded',
    }, body.toString());
    expect(forged.status).toBe(200);

    await portal.deliver();
    const mail = await portal.smtp.waitFor((m) => m.to.includes(email) && /demande de changement de mot de passe/.test(m.subject));
    expect(mail.subject).toBe(`${PORTAL_NAME} : demande de changement de mot de passe`);
    const link = resetLinkOf(mail);
    expect(link.url.startsWith(`${PUBLIC_URL}/reinitialisation/`)).toBe(true);
    expect(mail.raw + mail.html + mail.text).not.toContain('evil.example');
    expect(mail.text).toContain('Bonjour Louise Bernard,');
    expect(mail.text).toContain('Une demande de changement de mot de passe sur votre compte a été demandée.');
    expect(mail.text).toContain(`Votre identifiant : ${login}`);
    expect(mail.text).toContain('Ce lien n\'est valable que 24 heures et une seule fois.');
    expect(mail.text).toContain(`Tél : ${SUPPORT_PHONE}`);
    expect(visible(mail.html)).toContain(`Mail : ${SUPPORT_EMAIL}`);

    const rows = await portal.ctx.db.selectFrom('reset_tokens').selectAll().where('user_id', '=', userId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(hashToken(link.token));
    expect(rows[0]!.token_hash).not.toBe(link.token);
    expect(rows[0]!.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(await auditOf(portal, userId))).not.toContain(link.token);

    // The page behind the link: no Referer leaves it; a form to set and confirm a new password.
    const form = await client.get(link.path);
    expect(form.status).toBe(200);
    expect(form.headers.get('referrer-policy')).toBe('no-referrer');
    expect(form.text).toContain('<h1>Nouveau mot de passe</h1>');
    expect(labels(form.text)).toEqual(['Nouveau mot de passe', 'Confirmation du nouveau mot de passe', 'Afficher les mots de passe']);
    expect(form.text).toContain(`name="identifiant" value="${login}"`);

    // The server checks the new password: errors come back on the same page, the link still usable.
    const mismatch = await client.submit(link.path, { nouveau_mot_de_passe: NEW_PASSWORD, confirmation: `${NEW_PASSWORD}x` });
    expect(mismatch.status).toBe(400);
    expect(mismatch.headers.get('referrer-policy')).toBe('no-referrer');
    expect(errorSummary(mismatch.text)).toEqual(['« Confirmation du nouveau mot de passe » ne correspond pas au nouveau mot de passe.']);
    const personal = await client.submit(link.path, { nouveau_mot_de_passe: 'Bernard#2026-Plume', confirmation: 'Bernard#2026-Plume' });
    expect(errorSummary(personal.text)).toEqual(['« Nouveau mot de passe » ne doit contenir ni votre identifiant, ni votre nom, ni votre adresse e-mail.']);
    expect((await client.submit(link.path, { nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD })).status).toBe(200);
  });

  it('a link is valid SESAME_RESET_LINK_TTL (24 h): accepted at 23 h 59, refused at 24 h 01', async () => {
    const { login, email, userId } = await portal.createUser('fp-ttl');
    expect(portal.config.resetLinkTtlMs).toBe(24 * HOUR);
    const client = portal.client();

    const first = await requestResetLink(portal, client, login, email);
    portal.clock.advance(24 * HOUR - 60_000);
    expect((await client.get(first.path)).status).toBe(200);
    const inTime = await client.submit(first.path, { nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(inTime.status).toBe(200);
    expect((await signIn(portal.client(), login, NEW_PASSWORD)).location).toBe('/compte');

    const second = await requestResetLink(portal, client, login, email);
    const page = await client.get(second.path);
    expect(page.status).toBe(200);
    portal.clock.advance(24 * HOUR + 60_000);
    const expired = await client.get(second.path);
    expect(expired.status).toBe(410);
    expect(expired.headers.get('referrer-policy')).toBe('no-referrer');
    expect(visible(expired.text)).toContain('Lien invalide Ce lien a déjà été utilisé, a été remplacé par une demande plus récente, ou a expiré.');
    expect(expired.text).toContain('<a href="/mot-de-passe-oublie">Faire une nouvelle demande</a>');
    // Posting the form loaded in time changes nothing either.
    const late = await client.post(second.path, { _csrf: client.csrf(page.text), nouveau_mot_de_passe: 'Trop#Tard-2026x', confirmation: 'Trop#Tard-2026x' });
    expect(late.status).toBe(410);
    expect((await signIn(portal.client(), login, 'Trop#Tard-2026x')).status).toBe(401);
    expect((await auditOf(portal, userId)).filter((e) => e.type === 'password.reset')).toHaveLength(1);
  });

  it('a newer request voids older links', async () => {
    const { login, email } = await portal.createUser('fp-newer');
    const client = portal.client();
    const older = await requestResetLink(portal, client, login, email);
    const newer = await requestResetLink(portal, client, login, email);
    expect(newer.token).not.toBe(older.token);
    expect((await client.get(older.path)).status).toBe(410);
    const newerPage = await client.get(newer.path);
    expect(newerPage.status).toBe(200);
    const olderPost = await client.post(older.path, { _csrf: client.csrf(newerPage.text), nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(olderPost.status).toBe(410);
    expect((await signIn(portal.client(), login, NEW_PASSWORD)).status).toBe(401);
    expect((await client.submit(newer.path, { nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD })).status).toBe(200);
  });

  it('success ends every session, lifts the lockout, confirms on the page and by mail; the used link then says so (410)', async () => {
    const { client: signedInClient, login, email, userId } = await portal.activeUser('fp-success');
    expect(await signedIn(signedInClient)).toBe(true);

    // Five wrong passwords lock the account: even the right one is refused now.
    for (let i = 0; i < portal.config.lockoutThreshold; i++) {
      expect((await signIn(portal.client(), login, `Faux#Mot-2-passe${i}`)).status).toBe(401);
    }
    const user = await portal.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    expect(user.locked_at).not.toBeNull();
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).status).toBe(401);

    const client = portal.client();
    const link = await requestResetLink(portal, client, login, email);
    const since = portal.smtp.messages.length;
    const done = await client.submit(link.path, { nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect(visible(done.text)).toContain('Confirmation Votre changement de mot de passe est effectué. Vous allez recevoir un e-mail de confirmation. Vous pouvez maintenant vous connecter.');
    expect(done.text).toContain('<a href="/connexion">Se connecter</a>');

    expect(await signedIn(signedInClient)).toBe(false);
    expect(await portal.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).toEqual([]);
    const after = await portal.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    expect([after.locked_at, after.failed_count]).toEqual([null, 0]);
    const mail = await mailSince(portal, since, email, /^Portail Test : changement de mot de passe$/);
    expect(mail.text).toContain(CONFIRMATION_SENTENCE);
    const events = (await auditOf(portal, userId)).map((e) => e.type);
    expect(events.slice(-2)).toEqual(['password.reset', 'account.unlocked']);

    const fresh = portal.client();
    expect((await signIn(fresh, login, NEW_PASSWORD)).location).toBe('/compte');
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).status).toBe(401);

    const used = await client.get(link.path);
    expect(used.status).toBe(410);
    expect(visible(used.text)).toContain('Ce lien a déjà été utilisé');
    expect(used.text).toContain('href="/mot-de-passe-oublie"');
  });

  it('a link used twice in parallel succeeds exactly once', async () => {
    const { login, email, userId } = await portal.createUser('fp-race');
    const client = portal.client();
    const link = await requestResetLink(portal, client, login, email);
    const page = await client.get(link.path);
    const csrf = client.csrf(page.text);
    const historyBefore = await portal.ctx.db.selectFrom('password_history').select('id').where('user_id', '=', userId).execute();

    const results = await Promise.all([
      client.post(link.path, { _csrf: csrf, nouveau_mot_de_passe: 'Premier#Arrive-2026', confirmation: 'Premier#Arrive-2026' }),
      client.post(link.path, { _csrf: csrf, nouveau_mot_de_passe: 'Second#Arrive-2026', confirmation: 'Second#Arrive-2026' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 410]);
    const winner = results[0]!.status === 200 ? 'Premier#Arrive-2026' : 'Second#Arrive-2026';
    const loser = winner.startsWith('Premier') ? 'Second#Arrive-2026' : 'Premier#Arrive-2026';

    expect((await auditOf(portal, userId)).filter((e) => e.type === 'password.reset' || e.type === 'password.changed')).toHaveLength(1);
    const historyAfter = await portal.ctx.db.selectFrom('password_history').select('id').where('user_id', '=', userId).execute();
    expect(historyAfter.length - historyBefore.length).toBe(1);
    expect((await signIn(portal.client(), login, winner)).location).toBe('/compte');
    expect((await signIn(portal.client(), login, loser)).status).toBe(401);
    await portal.deliver();
    expect(mailsTo(portal, email).filter((m) => /^Portail Test : changement de mot de passe$/.test(m.subject))).toHaveLength(1);
  });

  it('sends at most 5 links per account and hour, with the same answer', async () => {
    const { login, email } = await portal.createUser('fp-flood');
    const client = portal.client();
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await forgotPassword(client, login));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200]);
    await portal.deliver();
    expect(mailsTo(portal, email).filter((m) => /demande de changement/.test(m.subject))).toHaveLength(5);
    portal.clock.advance(HOUR + 1000);
    await requestResetLink(portal, client, login, email);
  });

  it('« Identifiant oublié ? » mails the identifier to the address given when it matches an account; the same answer otherwise; shows how to reach support', async () => {
    const { login, email: address } = await portal.createUser('fi-reminder', { email: 'claire.petit@hopital.test.example', name: 'Claire Petit' });

    const form = await portal.client().get('/identifiant-oublie');
    expect(form.status).toBe(200);
    expect(labels(form.text)[0]).toBe('Adresse e-mail');
    expect(visible(form.text)).toContain(`Si vous n’avez plus accès à cette adresse, contactez le support technique : ${SUPPORT_EMAIL} · ${SUPPORT_PHONE}.`);

    const known = await forgotIdentifier(portal.client(), 'CLAIRE.PETIT@hopital.test.example');
    const unknown = await forgotIdentifier(portal.client(), 'PERSONNE.ICI@hopital.test.example');
    expect([known.status, unknown.status]).toEqual([200, 200]);
    expect(comparable(unknown.text, 'PERSONNE.ICI@hopital.test.example')).toBe(comparable(known.text, 'CLAIRE.PETIT@hopital.test.example'));
    const text = visible(known.text);
    expect(text).toContain('Si un compte correspond à « CLAIRE.PETIT@hopital.test.example », votre identifiant vient d’y être envoyé.');
    expect(text).toContain(`Si vous n’avez plus accès à cette adresse, contactez le support technique : ${SUPPORT_EMAIL} · ${SUPPORT_PHONE}.`);

    const since = portal.smtp.messages.length;
    expect(await portal.deliver()).toEqual({ sent: 1, failed: 0 });
    const mail = portal.smtp.messages[since]!;
    expect(mail.to).toEqual([address]);
    expect(mail.subject).toBe(`Votre identifiant ${PORTAL_NAME}`);
    expect(mail.text).toContain('Bonjour Claire Petit,');
    expect(mail.text).toContain(`Vous avez demandé à recevoir votre identifiant de connexion à ${PORTAL_NAME}.`);
    expect(mail.text).toContain(`Identifiant : ${login}`);
    expect(mail.text).toContain(`Se connecter : ${PUBLIC_URL}/connexion`);
    expect(mail.text).toContain(`Si vous n'êtes pas à l'origine de cette demande, ignorez ce message ou merci de contacter le support technique de ${PORTAL_NAME} au ${SUPPORT_PHONE}.`);
    expect(mail.text).not.toMatch(/mot de passe provisoire :/);
  });

  it('« Identifiant oublié ? » refuses a malformed address, naming the field', async () => {
    const res = await forgotIdentifier(portal.client(), 'pas-une-adresse');
    expect(res.status).toBe(400);
    expect(errorSummary(res.text)).toEqual(['« Adresse e-mail » n’est pas une adresse e-mail valide.']);
    const empty = await forgotIdentifier(portal.client(), '');
    expect(errorSummary(empty.text)).toEqual(['Le champ « Adresse e-mail » est obligatoire.']);
    expect(await portal.deliver()).toEqual({ sent: 0, failed: 0 });
  });
});
