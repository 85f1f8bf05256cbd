import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import {
  CONFIRMATION_SENTENCE,
  PORTAL_NAME,
  PORTAL_START_TIMEOUT,
  SESSION_COOKIE,
  auditOf,
  errorSummary,
  labels,
  mailSince,
  signIn,
  signedIn,
  visible,
} from './helpers.ts';

const NEXT = 'Changement#Reussi-2026';

describe.each(ENGINES)('Mon compte → Changer mon mot de passe (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => {
    portal = await startPortal(engine);
  }, PORTAL_START_TIMEOUT);
  afterAll(async () => {
    await portal?.close();
  });

  /** A signed-in user, plus a second device signed in to the same account. */
  async function twoDevices(login: string) {
    const user = await portal.activeUser(login);
    const other = portal.client({ userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) SesameTest/2.0' });
    expect((await signIn(other, login, STRONG_PASSWORD)).location).toBe('/compte');
    expect(await signedIn(user.client)).toBe(true);
    expect(await signedIn(other)).toBe(true);
    return { ...user, other };
  }

  it('offers « Ancien mot de passe », « Nouveau mot de passe », its confirmation and « Se déconnecter des autres appareils »', async () => {
    const { client } = await portal.activeUser('cp-form');
    const page = await client.get('/compte');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<h2 id="changer">Changer mon mot de passe</h2>');
    expect(labels(page.text)).toEqual([
      'Ancien mot de passe',
      'Nouveau mot de passe',
      'Confirmation du nouveau mot de passe',
      'Afficher les mots de passe',
      'Se déconnecter des autres appareils',
    ]);
    expect(page.text).toMatch(/<input type="checkbox" id="deconnecter_autres" name="deconnecter_autres" value="1">/);
    expect(page.text).toContain('<form method="post" action="/compte/mot-de-passe" novalidate>');
  });

  it('with « Se déconnecter des autres appareils » ticked: the other device is signed out, this one continues under a new cookie', async () => {
    const { client, other, login, email, userId } = await twoDevices('cp-others');
    const before = client.cookie(SESSION_COOKIE);
    const since = portal.smtp.messages.length;

    const res = await client.submit('/compte', {
      ancien_mot_de_passe: STRONG_PASSWORD,
      nouveau_mot_de_passe: NEXT,
      confirmation: NEXT,
      deconnecter_autres: '1',
    });
    expect(res.status).toBe(303);
    expect(res.location).toBe('/compte?ok=mot-de-passe&autres=1');
    const after = client.cookie(SESSION_COOKIE);
    expect(after).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(after).not.toBe(before);

    const page = await client.follow(res);
    expect(page.status).toBe(200);
    const text = visible(page.text);
    expect(text).toContain('Votre changement de mot de passe a bien été pris en compte. Vous allez recevoir un e-mail de confirmation.');
    expect(text).toContain('Vos autres appareils ont été déconnectés (1).');

    expect(await signedIn(other)).toBe(false);
    expect(await signedIn(client)).toBe(true);
    const stale = await portal.client().get('/compte', { cookie: `${SESSION_COOKIE}=${before}` });
    expect([stale.status, stale.location]).toEqual([303, '/connexion']);
    expect(await portal.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', userId).execute()).toHaveLength(1);

    const mail = await mailSince(portal, since, email, /: changement de mot de passe$/);
    expect(mail.subject).toBe(`${PORTAL_NAME} : changement de mot de passe`);
    expect(mail.text).toContain(CONFIRMATION_SENTENCE);
    const events = (await auditOf(portal, userId)).slice(-2).map((e) => [e.type, e.details]);
    expect(events).toEqual([
      ['password.changed', { via: 'account', endedOthers: 1 }],
      ['sessions.ended.others', { count: 1 }],
    ]);

    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).status).toBe(401);
    expect((await signIn(portal.client(), login, NEXT)).location).toBe('/compte');
  });

  it('without it: the other device stays signed in; this one still gets a new cookie', async () => {
    const { client, other, login, email } = await twoDevices('cp-keep');
    const before = client.cookie(SESSION_COOKIE);
    const since = portal.smtp.messages.length;

    const res = await client.submit('/compte', { ancien_mot_de_passe: STRONG_PASSWORD, nouveau_mot_de_passe: NEXT, confirmation: NEXT });
    expect([res.status, res.location]).toEqual([303, '/compte?ok=mot-de-passe']);
    expect(client.cookie(SESSION_COOKIE)).not.toBe(before);
    const page = await client.follow(res);
    expect(visible(page.text)).toContain('Votre changement de mot de passe a bien été pris en compte.');
    expect(visible(page.text)).not.toContain('Vos autres appareils ont été déconnectés');

    expect(await signedIn(client)).toBe(true);
    expect(await signedIn(other)).toBe(true);
    expect((await mailSince(portal, since, email, /: changement de mot de passe$/)).text).toContain(CONFIRMATION_SENTENCE);
    expect((await signIn(portal.client(), login, NEXT)).location).toBe('/compte');
  });

  it('a wrong or missing current password is refused, naming the field; nothing changes', async () => {
    const { client, other, login, userId } = await twoDevices('cp-wrong');
    const before = client.cookie(SESSION_COOKIE);
    const hash = async () => (await portal.ctx.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow()).password_hash;
    const hashBefore = await hash();
    await portal.deliver();
    const since = portal.smtp.messages.length;

    const wrong = await client.submit('/compte', {
      ancien_mot_de_passe: 'Pas#Le-Bon-2026',
      nouveau_mot_de_passe: NEXT,
      confirmation: NEXT,
      deconnecter_autres: '1',
    });
    expect(wrong.status).toBe(400);
    expect(errorSummary(wrong.text)).toEqual(['« Ancien mot de passe » est incorrect.']);
    expect(wrong.text).toMatch(/<input id="ancien_mot_de_passe"[^>]*aria-invalid="true"/);
    expect(wrong.text).toMatch(/<p class="error" id="ancien_mot_de_passe-erreur-0">« Ancien mot de passe » est incorrect.<\/p>/);

    const missing = await client.submit('/compte', { ancien_mot_de_passe: '', nouveau_mot_de_passe: NEXT, confirmation: NEXT });
    expect(missing.status).toBe(400);
    expect(errorSummary(missing.text)).toEqual(['Le champ « Ancien mot de passe » est obligatoire.']);

    expect(await hash()).toBe(hashBefore);
    expect(client.cookie(SESSION_COOKIE)).toBe(before);
    expect(await signedIn(client)).toBe(true);
    expect(await signedIn(other)).toBe(true);
    expect(await portal.deliver()).toEqual({ sent: 0, failed: 0 });
    expect(portal.smtp.messages.length).toBe(since);
    expect((await auditOf(portal, userId)).at(-1)?.details).toEqual({ reason: 'wrong-current-password', during: 'password-change' });
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).location).toBe('/compte');
  });

  it('wrong current passwords count towards the lockout: the fifth locks the account and ends its sessions', async () => {
    const { client, other, login, email } = await twoDevices('cp-lock');
    const threshold = portal.config.lockoutThreshold;
    let last;
    for (let i = 0; i < threshold; i++) {
      last = await client.submit('/compte', { ancien_mot_de_passe: `Faux#Ancien-${i}x`, nouveau_mot_de_passe: NEXT, confirmation: NEXT });
      if (i < threshold - 1) expect(last.status).toBe(400);
    }
    expect(last!.status).toBe(403);
    expect(visible(last!.text)).toContain('Trop d’essais erronés : votre compte est verrouillé et vos sessions ont pris fin. Utilisez « Mot de passe oublié » pour le débloquer.');
    expect(await signedIn(client)).toBe(false);
    expect(await signedIn(other)).toBe(false);
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).status).toBe(401);
    expect((await mailSince(portal, 0, email, /votre compte est verrouillé/)).text).toContain(`Votre compte a été verrouillé après ${threshold} tentatives de connexion sans succès.`);
  });
});
