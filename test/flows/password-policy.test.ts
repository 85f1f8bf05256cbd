import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebClient } from '../support/http.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';
import { PORTAL_START_TIMEOUT, errorSummary, signIn, signedIn } from './helpers.ts';

/** Posts the « Première connexion » form. */
function firstConnection(client: WebClient, password: string, confirmation = password) {
  return client.submit('/premiere-connexion', { nouveau_mot_de_passe: password, confirmation });
}

/** Posts « Changer mon mot de passe ». */
function change(client: WebClient, current: string, password: string, confirmation = password) {
  return client.submit('/compte', { ancien_mot_de_passe: current, nouveau_mot_de_passe: password, confirmation });
}

describe.each(ENGINES)('Règles de mot de passe, vérifiées par le serveur (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => {
    portal = await startPortal(engine);
  }, PORTAL_START_TIMEOUT);
  afterAll(async () => {
    await portal?.close();
  });

  /** A client signed in with a temporary password, on « Première connexion ». */
  async function onFirstConnection(login: string, opts: { email?: string; name?: string } = {}) {
    const user = await portal.createUser(login, opts);
    const client = portal.client();
    expect((await signIn(client, login, user.temporary)).location).toBe('/premiere-connexion');
    return { ...user, client };
  }

  it('says which rule failed, in French, naming the field', async () => {
    const { client } = await onFirstConnection('pp-rules', { name: 'Karim Benali', email: 'k.benali@hopital.test.example' });
    const page = await client.get('/premiere-connexion');
    // The rules are shown beside the form...
    expect(page.text).toContain('data-min="12"');
    for (const rule of ['12 caractères minimum', '1 chiffre minimum', '1 majuscule minimum', '1 minuscule minimum', '1 caractère spécial minimum (exemple : @ # &amp; _ *)']) {
      expect(page.text).toContain(rule);
    }
    // ...but the server decides.
    const cases: [string, string, string][] = [
      ['Vq8#trombon', 'Vq8#trombon', '« Nouveau mot de passe » : 12 caractères minimum.'],
      ['Vq#trombone-Lilas', 'Vq#trombone-Lilas', '« Nouveau mot de passe » doit contenir au moins 1 chiffre.'],
      ['vq8#trombone-lilas42', 'vq8#trombone-lilas42', '« Nouveau mot de passe » doit contenir au moins 1 majuscule.'],
      ['VQ8#TROMBONE-LILAS42', 'VQ8#TROMBONE-LILAS42', '« Nouveau mot de passe » doit contenir au moins 1 minuscule.'],
      ['Vq8trombone0Lilas42', 'Vq8trombone0Lilas42', '« Nouveau mot de passe » doit contenir au moins 1 caractère spécial (exemple : @ # & _ *).'],
      ['Motdepasse123!', 'Motdepasse123!', '« Nouveau mot de passe » : ce mot de passe est trop courant, choisissez-en un autre.'],
      ['Zq9#PP-RULES!ab', 'Zq9#PP-RULES!ab', '« Nouveau mot de passe » ne doit contenir ni votre identifiant, ni votre nom, ni votre adresse e-mail.'],
      ['Zq9#benali-Plume', 'Zq9#benali-Plume', '« Nouveau mot de passe » ne doit contenir ni votre identifiant, ni votre nom, ni votre adresse e-mail.'],
      ['Zq9#Karim-Plume', 'Zq9#Karim-Plume', '« Nouveau mot de passe » ne doit contenir ni votre identifiant, ni votre nom, ni votre adresse e-mail.'],
      ['Zq9#k.benali-Plume', 'Zq9#k.benali-Plume', '« Nouveau mot de passe » ne doit contenir ni votre identifiant, ni votre nom, ni votre adresse e-mail.'],
      ['Zq9#plume-K.Benali@Hopital.Test.Example', 'Zq9#plume-K.Benali@Hopital.Test.Example', '« Nouveau mot de passe » ne doit contenir ni votre identifiant, ni votre nom, ni votre adresse e-mail.'],
      ['Vq8#trombone-Lilas42', 'Vq8#trombone-Lilas24', '« Confirmation du nouveau mot de passe » ne correspond pas au nouveau mot de passe.'],
      ['Vq8#trombone-Lilas42', '', '« Confirmation du nouveau mot de passe » ne correspond pas au nouveau mot de passe.'],
      ['', '', 'Le champ « Nouveau mot de passe » est obligatoire.'],
      [`Aa1#${'x'.repeat(509)}`, `Aa1#${'x'.repeat(509)}`, '« Nouveau mot de passe » : 512 caractères maximum.'],
    ];
    for (const [password, confirmation, message] of cases) {
      const res = await firstConnection(client, password, confirmation);
      expect([password, res.status, errorSummary(res.text)]).toEqual([password, 400, [message]]);
      const field = message.includes('Confirmation') ? 'confirmation' : 'nouveau_mot_de_passe';
      expect(res.text).toMatch(new RegExp(`<input id="${field}"[^>]*aria-invalid="true"`));
    }
    // Several rules at once: each is named.
    expect(errorSummary((await firstConnection(client, 'abc', 'abd')).text)).toEqual([
      '« Nouveau mot de passe » : 12 caractères minimum.',
      '« Nouveau mot de passe » doit contenir au moins 1 chiffre.',
      '« Nouveau mot de passe » doit contenir au moins 1 majuscule.',
      '« Nouveau mot de passe » doit contenir au moins 1 caractère spécial (exemple : @ # & _ *).',
      '« Confirmation du nouveau mot de passe » ne correspond pas au nouveau mot de passe.',
    ]);
    // Still on « Première connexion »; exactly 12 characters with every class passes.
    expect((await client.get('/compte')).location).toBe('/premiere-connexion');
    expect((await firstConnection(client, 'Vq8#trombone')).status).toBe(200);
    expect(await signedIn(client)).toBe(true);
  });

  it('refuses the last 5 passwords: the first one comes back only as the 6th back', async () => {
    const passwords = ['Histoire#Zero-2020', 'Histoire#Un-2021x', 'Histoire#Deux-2022', 'Histoire#Trois-2023', 'Histoire#Quatre-2024', 'Histoire#Cinq-2025'];
    const { client, login } = await portal.activeUser('pp-history', passwords[0]);
    let current = passwords[0]!;
    const changeTo = async (next: string) => {
      portal.clock.advance(60_000);
      const res = await change(client, current, next);
      if (res.status === 303) current = next;
      return res;
    };
    const reused = '« Nouveau mot de passe » : vous avez déjà utilisé ce mot de passe récemment, choisissez-en un autre.';

    // The current one is one of the last 5 too.
    expect(errorSummary((await changeTo(passwords[0]!)).text)).toEqual([reused]);
    for (const next of passwords.slice(1, 5)) expect((await changeTo(next)).status).toBe(303);
    // P0 is now the 5th back: refused.
    const fifth = await changeTo(passwords[0]!);
    expect(fifth.status).toBe(400);
    expect(errorSummary(fifth.text)).toEqual([reused]);
    expect((await changeTo(passwords[5]!)).status).toBe(303);
    // P1 is now the 5th back: refused; P0 the 6th: accepted.
    expect(errorSummary((await changeTo(passwords[1]!)).text)).toEqual([reused]);
    const sixth = await changeTo(passwords[0]!);
    expect([sixth.status, sixth.location]).toEqual([303, '/compte?ok=mot-de-passe']);
    expect((await signIn(portal.client(), login, passwords[0]!)).location).toBe('/compte');
    expect((await signIn(portal.client(), login, passwords[5]!)).status).toBe(401);
  });

  it('normalises Unicode (NFKC): a password signs in whichever form it is typed in', async () => {
    // Set in full-width characters, typed later in ASCII.
    const fullWidth = 'Ｖｑ８＃ｔｒｏｍｂｏｎｅ-Lilas42';
    const { client, login } = await portal.activeUser('pp-unicode', fullWidth);
    expect((await signIn(portal.client(), login, 'Vq8#trombone-Lilas42')).location).toBe('/compte');
    expect((await signIn(portal.client(), login, fullWidth)).location).toBe('/compte');

    // Set decomposed (e + combining accents, as some keyboards send), typed composed; and the reverse as current password.
    const decomposed = 'Cre\u0300me-Bru\u0302le\u0301e#2026';
    const composed = 'Crème-Brûlée#2026';
    expect(decomposed).not.toBe(composed);
    expect((await change(client, 'Vq8#trombone-Lilas42', decomposed)).status).toBe(303);
    expect((await signIn(portal.client(), login, composed)).location).toBe('/compte');
    expect((await signIn(portal.client(), login, decomposed)).location).toBe('/compte');
    // The history compares normalised passwords too.
    const again = await change(client, decomposed, composed);
    expect(errorSummary(again.text)).toEqual(['« Nouveau mot de passe » : vous avez déjà utilisé ce mot de passe récemment, choisissez-en un autre.']);
  });

  it('takes a 256-character password end to end', async () => {
    const long = 'Tournesol-7#Ocean_'.repeat(15).slice(0, 256);
    expect(long).toHaveLength(256);
    const { login } = await portal.activeUser('pp-long', long);
    expect((await signIn(portal.client(), login, long)).location).toBe('/compte');
    expect((await signIn(portal.client(), login, long.slice(0, 255))).status).toBe(401);
    expect((await signIn(portal.client(), login, `${long}x`)).status).toBe(401);
  });
});

describe.each(ENGINES)('SESAME_PASSWORD_MIN_LENGTH (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => {
    portal = await startPortal(engine, { SESAME_PASSWORD_MIN_LENGTH: '16' });
  }, PORTAL_START_TIMEOUT);
  afterAll(async () => {
    await portal?.close();
  });

  it('raises the minimum, in the rules shown and in the server check', async () => {
    const { login, temporary } = await portal.createUser('pp-minimum');
    const client = portal.client();
    await signIn(client, login, temporary);
    const page = await client.get('/premiere-connexion');
    expect(page.text).toContain('data-min="16"');
    expect(page.text).toContain('16 caractères minimum');

    const short = await firstConnection(client, 'Vq8#trombone-Li'); // 15
    expect(short.status).toBe(400);
    expect(errorSummary(short.text)).toEqual(['« Nouveau mot de passe » : 16 caractères minimum.']);
    expect((await firstConnection(client, 'Vq8#trombone-Lil')).status).toBe(200); // 16
    expect((await signIn(portal.client(), login, 'Vq8#trombone-Lil')).location).toBe('/compte');
  });
});
