import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import {
  CONFIRMATION_SENTENCE,
  DAY,
  PORTAL_NAME,
  PORTAL_START_TIMEOUT,
  PUBLIC_URL,
  SESSION_COOKIE,
  SUPPORT_EMAIL,
  SUPPORT_PHONE,
  auditOf,
  errorSummary,
  labels,
  mailSince,
  mailsTo,
  requestResetLink,
  signIn,
  signedIn,
  visible,
} from './helpers.ts';

describe.each(ENGINES)('Création de compte et première connexion (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => {
    portal = await startPortal(engine);
  }, PORTAL_START_TIMEOUT);
  afterAll(async () => {
    await portal?.close();
  });

  it('account creation sends two separate mails: the identifier, then the temporary password', async () => {
    const { email, temporary, userId } = await portal.createUser('fc-mails', { name: 'Camille Martin' });
    const mails = mailsTo(portal, email);
    expect(mails.map((m) => m.subject)).toEqual([
      `${PORTAL_NAME} : votre identifiant de connexion`,
      `${PORTAL_NAME} : votre mot de passe provisoire`,
    ]);
    const [identifierMail, passwordMail] = mails as [typeof mails[0], typeof mails[0]];

    expect(identifierMail.text).toContain('Bonjour Camille Martin,');
    expect(identifierMail.text).toContain(`Un compte vient d'être créé pour vous sur ${PORTAL_NAME}.`);
    expect(identifierMail.text).toContain('Identifiant : fc-mails');
    expect(identifierMail.text).toContain('Votre mot de passe provisoire vous parvient dans un mail séparé.');
    expect(identifierMail.text + identifierMail.html).not.toContain(temporary);

    expect(passwordMail.text).toContain(
      `Pour votre première connexion à ${PORTAL_NAME}, utilisez le mot de passe provisoire suivant :\n\nMot de passe provisoire : ${temporary}\n`,
    );
    expect(visible(passwordMail.html)).toContain(
      `Pour votre première connexion à ${PORTAL_NAME}, utilisez le mot de passe provisoire suivant : Mot de passe provisoire : ${temporary}`,
    );
    expect(passwordMail.text).toContain('Ce mot de passe provisoire est valable 7 jours.');
    expect(passwordMail.text).toContain('Votre identifiant vous parvient dans un mail séparé.');
    expect(passwordMail.text + passwordMail.html).not.toContain('fc-mails');

    for (const mail of mails) {
      expect(mail.from).toContain(PORTAL_NAME);
      expect(mail.html).toMatch(/^<!DOCTYPE html>\s*<html lang="fr">/);
      expect(visible(mail.html)).toContain(`Cordialement, ${PORTAL_NAME} Mail : ${SUPPORT_EMAIL} Tél : ${SUPPORT_PHONE}`);
      expect(mail.text).toContain(`Cordialement,\n${PORTAL_NAME}\nMail : ${SUPPORT_EMAIL}\nTél : ${SUPPORT_PHONE}`);
      expect(mail.html).toContain(`href="${PUBLIC_URL}/connexion"`);
      expect(mail.text).toContain(`Se connecter : ${PUBLIC_URL}/connexion`);
    }

    // The temporary password exists in clear in that mail only: not in the database, not in the audit log.
    const others = portal.smtp.messages.filter((m) => m !== passwordMail);
    expect(others.filter((m) => (m.raw + m.text).includes(temporary))).toEqual([]);
    const audit = await auditOf(portal, userId);
    expect(audit.map((e) => e.type)).toEqual(['account.created', 'password.temporary.issued']);
    expect(JSON.stringify(audit)).not.toContain(temporary);
    const user = await portal.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    expect(user.password_hash).toMatch(/^\$argon2id\$/);
    expect(JSON.stringify(user)).not.toContain(temporary);
    // Delivered mails have their bodies erased from the outbox.
    const outbox = await portal.ctx.db.selectFrom('outbox').selectAll().where('recipient', '=', email).execute();
    expect(outbox).toHaveLength(2);
    for (const row of outbox) {
      expect(row.sent_at).not.toBeNull();
      expect(row.body_text).toBeNull();
      expect(row.body_html).toBeNull();
    }
  });

  it('a temporary password opens « Première connexion » only, until it is replaced', async () => {
    const { login, temporary, userId } = await portal.createUser('fc-limited');
    const client = portal.client();
    const res = await signIn(client, login, temporary);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/premiere-connexion');

    const page = await client.get('/premiere-connexion');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<h1>Première connexion</h1>');
    expect(labels(page.text)).toEqual(['Nouveau mot de passe', 'Confirmation du nouveau mot de passe', 'Afficher les mots de passe']);
    expect(page.text).not.toContain('href="/compte"'); // no « Mon compte » in the menu yet
    const csrf = client.csrf(page.text);
    const hashBefore = (await portal.ctx.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow()).password_hash;

    for (const path of ['/', '/connexion', '/compte', '/compte?ok=mot-de-passe']) {
      const other = await client.get(path);
      expect([path, other.status, other.location]).toEqual([path, 303, '/premiere-connexion']);
    }
    const sessionId = (await portal.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).executeTakeFirstOrThrow()).id;
    for (const path of ['/compte/mot-de-passe', `/compte/sessions/${sessionId}/fin`]) {
      const post = await client.post(path, {
        _csrf: csrf,
        ancien_mot_de_passe: temporary,
        nouveau_mot_de_passe: STRONG_PASSWORD,
        confirmation: STRONG_PASSWORD,
        deconnecter_autres: '1',
      });
      expect([path, post.status, post.location]).toEqual([path, 303, '/premiere-connexion']);
    }
    // Nothing was changed behind the redirections.
    const after = await portal.ctx.db.selectFrom('users').select(['password_hash', 'temp_password_expires_at']).where('id', '=', userId).executeTakeFirstOrThrow();
    expect(after.password_hash).toBe(hashBefore);
    expect(after.temp_password_expires_at).not.toBeNull();
    expect(await portal.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).toEqual([{ id: sessionId }]);

    // The form demands both fields, and says which one is wrong.
    const empty = await client.submit('/premiere-connexion', { nouveau_mot_de_passe: '', confirmation: '' });
    expect(empty.status).toBe(400);
    expect(errorSummary(empty.text)).toEqual(['Le champ « Nouveau mot de passe » est obligatoire.']);
    const noConfirmation = await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: '' });
    expect(noConfirmation.status).toBe(400);
    expect(errorSummary(noConfirmation.text)).toEqual(['« Confirmation du nouveau mot de passe » ne correspond pas au nouveau mot de passe.']);
    const same = await client.submit('/premiere-connexion', { nouveau_mot_de_passe: temporary, confirmation: temporary });
    expect(same.status).toBe(400);
    expect(errorSummary(same.text)).toEqual(['« Nouveau mot de passe » doit être différent du mot de passe provisoire.']);
    expect((await client.get('/compte')).location).toBe('/premiere-connexion');
  });

  it('on success: confirmation page, confirmation mail, a new session token, the temporary password retired', async () => {
    const { login, email, temporary, userId } = await portal.createUser('fc-success');
    const client = portal.client();
    await signIn(client, login, temporary);
    const limitedToken = client.cookie(SESSION_COOKIE);
    expect(limitedToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const since = portal.smtp.messages.length;

    const done = await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD });
    expect(done.status).toBe(200);
    expect(visible(done.text)).toContain('Confirmation Votre changement de mot de passe est effectué. Vous allez recevoir un e-mail de confirmation.');
    const fullToken = client.cookie(SESSION_COOKIE);
    expect(fullToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fullToken).not.toBe(limitedToken);
    expect(done.headers.getSetCookie().join('\n')).toMatch(/__Host-sesame=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax/);

    expect(await signedIn(client)).toBe(true);
    // The session of the temporary password is gone: its token opens nothing any more.
    const stale = await portal.client().get('/compte', { cookie: `${SESSION_COOKIE}=${limitedToken}` });
    expect([stale.status, stale.location]).toEqual([303, '/connexion']);
    expect((await client.get('/premiere-connexion')).location).toBe('/compte');

    const mail = await mailSince(portal, since, email, /changement de mot de passe/);
    expect(mail.subject).toBe(`${PORTAL_NAME} : changement de mot de passe`);
    expect(mail.text).toContain(CONFIRMATION_SENTENCE);
    expect(visible(mail.html)).toContain(CONFIRMATION_SENTENCE);

    const events = (await auditOf(portal, userId)).map((e) => [e.type, e.details]);
    expect(events).toContainEqual(['password.changed', { via: 'first-connection' }]);

    expect((await signIn(portal.client(), login, temporary)).status).toBe(401);
    const again = await signIn(portal.client(), login, STRONG_PASSWORD);
    expect([again.status, again.location]).toEqual([303, '/compte']);
  });

  it('an expired temporary password no longer signs in; the page points to « Mot de passe oublié » and support', async () => {
    const { login, email, temporary, userId } = await portal.createUser('fc-expired');
    const ttl = portal.config.tempPasswordTtlMs;
    expect(ttl).toBe(7 * DAY);

    portal.clock.advance(ttl - 60_000);
    const justInTime = await signIn(portal.client(), login, temporary);
    expect(justInTime.location).toBe('/premiere-connexion');

    portal.clock.advance(2 * 60_000);
    const late = await signIn(portal.client(), login, temporary);
    expect(late.status).toBe(401);
    expect(late.location).toBeNull();
    const text = visible(late.text);
    expect(text).toContain('Identifiant ou mot de passe incorrect, ou compte inutilisable.');
    expect(text).toContain('Un mot de passe provisoire n’est valable que 7 jours ; s’il a expiré, utilisez aussi « Mot de passe oublié » ou contactez le support technique.');
    expect(text).toContain(`Support technique : ${SUPPORT_EMAIL} · ${SUPPORT_PHONE}`);
    expect(late.text).toContain('<a href="/mot-de-passe-oublie">Mot de passe oublié ?</a>');
    const failure = (await auditOf(portal, userId)).at(-1);
    expect([failure?.type, failure?.details]).toEqual(['login.failure', { reason: 'temporary-password-expired' }]);

    // « Mot de passe oublié » is the way out.
    const client = portal.client();
    const link = await requestResetLink(portal, client, login, email);
    const reset = await client.submit(link.path, { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD });
    expect(reset.status).toBe(200);
    const signedInNow = await signIn(client, login, STRONG_PASSWORD);
    expect(signedInNow.location).toBe('/compte');
  });

  it('`sesame user reset` issues a new temporary password by the same two mails, ends the sessions, voids reset links', async () => {
    const { client, login, email, userId } = await portal.activeUser('fc-reset');
    const other = portal.client();
    const link = await requestResetLink(portal, other, login, email);
    expect((await other.get(link.path)).status).toBe(200);
    // Locked as well: the reset lifts the lock.
    for (let i = 0; i < portal.config.lockoutThreshold; i++) await signIn(portal.client(), login, 'Mauvais-mot-2-passe');
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).status).toBe(401);
    expect((await mailSince(portal, 0, email, /votre compte est verrouillé/)).text).toContain('Votre compte a été verrouillé après 5 tentatives');
    const since = portal.smtp.messages.length;

    const out: string[] = [];
    const err: string[] = [];
    const code = await runCommand(portal.ctx, ['user', 'reset', login], { out: (l) => out.push(l), err: (l) => err.push(l) });
    expect([code, err]).toEqual([0, []]);
    expect(out.join('\n')).toContain(`Nouveau mot de passe provisoire émis pour « ${login} »`);

    const identifierMail = await mailSince(portal, since, email, /votre identifiant de connexion/);
    const passwordMail = await mailSince(portal, since, email, /votre mot de passe provisoire/);
    expect(portal.smtp.messages.slice(since).filter((m) => m.to.includes(email))).toHaveLength(2);
    expect(identifierMail.text).toContain(`Votre code de connexion sur ${PORTAL_NAME} a été réinitialisé. Voici votre identifiant de connexion`);
    expect(identifierMail.text).toContain(`Identifiant : ${login}`);
    const temporary = /utilisez le mot de passe provisoire suivant :\n\nMot de passe provisoire : (\S+)\n/.exec(passwordMail.text)?.[1];
    expect(passwordMail.text).toContain(`Votre code de connexion sur ${PORTAL_NAME} a été réinitialisé. Pour votre première connexion, utilisez le mot de passe provisoire suivant :`);
    expect(temporary).toMatch(/^\S{16}$/);
    expect(identifierMail.text + identifierMail.html + out.join('\n')).not.toContain(temporary!);
    expect(passwordMail.text).not.toContain(login);
    expect(JSON.stringify(await auditOf(portal, userId))).not.toContain(temporary!);

    expect(await signedIn(client)).toBe(false);
    expect((await other.get(link.path)).status).toBe(410);
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).status).toBe(401);
    const fresh = portal.client();
    const res = await signIn(fresh, login, temporary!);
    expect(res.location).toBe('/premiere-connexion');
    const done = await fresh.submit('/premiere-connexion', { nouveau_mot_de_passe: 'Nouveau#Depart-2026', confirmation: 'Nouveau#Depart-2026' });
    expect(done.status).toBe(200);
    expect(await signedIn(fresh)).toBe(true);
  });
});
