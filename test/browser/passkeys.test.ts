// Passkeys in real Chromium, with a virtual authenticator (DevTools protocol, WebAuthn domain) standing
// in for the device: « Ajouter une clé d'accès » in « Mon compte », then a sign-in as an admin with
// « Clé d'accès » chosen among the methods. And without JavaScript, the page says why it cannot work.
//
// WebAuthn needs a secure context and an RP ID that is a domain: the portal is reached at
// http://localhost:PORT, which is also its SESAME_PUBLIC_URL (so the port is chosen before it starts).

import { createServer } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  clickAndWait, describeBrowser, expectNoAxeViolations, heading, JOURNEY_TIMEOUT_MS, labelled, launchBrowser, newPage, pageProblems, START_TIMEOUT_MS,
} from '../support/browser.ts';
import { startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';

const CODE_IN_MAIL = /Code : (\d{6})/;

/** A port free right now (the portal takes it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

describeBrowser('browser: passkeys (virtual authenticator)', () => {
  let portal: Portal;
  let browser: Browser;
  let base: string;
  beforeAll(async () => {
    const port = await freePort();
    base = `http://localhost:${port}`;
    [portal, browser] = await Promise.all([startPortal('pglite', { PORT: String(port), SESAME_PUBLIC_URL: base }), launchBrowser()]);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  /** An admin whose first connection is done (over HTTP, with the e-mailed code). */
  async function admin(login: string) {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary });
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    await client.post('/deconnexion', { _csrf: client.csrf((await client.get('/compte')).text) });
    portal.smtp.clear();
    return { login, email: user.email };
  }

  const passwordStep = async (page: Page, login: string) => {
    await page.goto(`${base}/connexion`);
    await labelled(page, 'Identifiant').fill(login);
    await labelled(page, 'Mot de passe').fill(STRONG_PASSWORD);
    await clickAndWait(page, page.getByRole('button', { name: 'Se connecter' }));
  };

  it('adds a passkey in Mon compte, then signs in with it', { timeout: JOURNEY_TIMEOUT_MS * 2 }, async () => {
    const { login, email } = await admin('passkey.admin');
    const page = await newPage(browser);
    try {
      const cdp = await page.context().newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      });

      // Sign in with the e-mailed code: e-mail is the only method so far.
      await passwordStep(page, login);
      expect(new URL(page.url()).pathname).toBe('/verification');
      const code = CODE_IN_MAIL.exec((await portal.mail(email, /code de connexion/)).text)![1]!;
      await labelled(page, 'Code').fill(code);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(await heading(page)).toBe('Mon compte');

      // « Ajouter une clé d'accès »: the current password, then the browser ceremony.
      await clickAndWait(page, page.getByRole('link', { name: 'Ajouter une clé d’accès' }));
      expect(await heading(page)).toBe('Ajouter une clé d’accès');
      await labelled(page, 'Nom de la clé d’accès').fill('Chromium de test');
      await labelled(page, 'Mot de passe actuel').fill(STRONG_PASSWORD);
      await clickAndWait(page, page.getByRole('button', { name: 'Continuer' }));
      const create = page.getByRole('button', { name: 'Créer la clé d’accès' });
      expect(await create.isVisible()).toBe(true);
      await expectNoAxeViolations(page, 'Ajouter une clé d’accès, cérémonie');
      await clickAndWait(page, create);
      expect(new URL(page.url()).pathname).toBe('/compte');
      expect((await page.getByRole('status').allTextContents()).join(' ')).toContain('La clé d’accès a été ajoutée.');
      const row = page.getByRole('table', { name: 'Clés d’accès' }).locator('tbody tr');
      expect(await row.count()).toBe(1);
      expect(await row.textContent()).toContain('Chromium de test');
      expect(await row.textContent()).toContain('Jamais utilisée');
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      expect(credentials).toHaveLength(1);
      await expectNoAxeViolations(page, 'Mon compte, avec une clé d’accès');

      // Sign out, then sign in again: the admin chooses « Clé d'accès ».
      await clickAndWait(page, page.getByRole('button', { name: 'Se déconnecter' }));
      await passwordStep(page, login);
      expect(new URL(page.url()).pathname).toBe('/verification/choix');
      await page.getByLabel('Clé d’accès (passkey)').check();
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(new URL(page.url()).pathname).toBe('/verification/cle');
      await expectNoAxeViolations(page, 'Vérification par clé d’accès');
      await clickAndWait(page, page.getByRole('button', { name: 'Utiliser ma clé d’accès' }));
      expect(new URL(page.url()).pathname).toBe('/compte');
      expect(await heading(page)).toBe('Mon compte');
      expect(await row.textContent()).not.toContain('Jamais utilisée');
      expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials[0]!.signCount).toBeGreaterThan(0);
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('without JavaScript, the passkey page explains why and offers another method', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const { login } = await admin('passkey.nojs');
    // A passkey on the account (the flow tests cover how it gets there): the choice then lists it.
    const user = await portal.ctx.db.selectFrom('users').select('id').where('login', '=', login).executeTakeFirstOrThrow();
    await portal.ctx.db.insertInto('webauthn_credentials').values({
      id: 'Y2xlLXNhbnMtamF2YXNjcmlwdA', user_id: user.id, public_key: 'AA', name: 'Clé USB', created_at: portal.clock.now(),
    }).execute();
    const page = await newPage(browser, { javaScriptEnabled: false });
    try {
      await passwordStep(page, login);
      await page.getByLabel('Clé d’accès (passkey)').check();
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(new URL(page.url()).pathname).toBe('/verification/cle');
      const main = page.getByRole('main');
      expect(await main.textContent()).toContain('Une clé d’accès nécessite JavaScript');
      expect(await page.getByRole('button', { name: 'Utiliser ma clé d’accès' }).isVisible()).toBe(false);
      await expectNoAxeViolations(page, 'Vérification par clé d’accès');
      await clickAndWait(page, page.getByRole('link', { name: 'Choisir une autre méthode' }));
      expect(new URL(page.url()).pathname).toBe('/verification/choix');
    } finally {
      await page.context().close();
    }
  });
});
