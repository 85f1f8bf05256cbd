// « Changer mon mot de passe » in real Chromium, with « Se déconnecter des autres appareils »:
// two browser contexts signed in as the same person; A changes the password and ends B's session.

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  clickAndWait, describeBrowser, description, expectNoAxeViolations, focusedId, heading, labelled, JOURNEY_TIMEOUT_MS, launchBrowser, START_TIMEOUT_MS, newPage, pageProblems,
} from '../support/browser.ts';
import { startPortal, type Portal } from '../support/portal.ts';

const NEW_PASSWORD = 'Tg7!glycine-Ardoise';

describeBrowser('browser: change password and sign out the other devices (JavaScript on)', () => {
  let portal: Portal;
  let browser: Browser;
  beforeAll(async () => {
    [portal, browser] = await Promise.all([startPortal('pglite'), launchBrowser()]);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  const signIn = async (page: Page, identifier: string, password: string) => {
    await page.goto(`${portal.url}/connexion`);
    await labelled(page, 'Identifiant').fill(identifier);
    await labelled(page, 'Mot de passe').fill(password);
    await clickAndWait(page, page.getByRole('button', { name: 'Se connecter' }));
    expect(page.url()).toBe(`${portal.url}/compte`);
  };
  const sessionRows = (page: Page) => page.getByRole('region', { name: 'Mes sessions actives' }).locator('tbody tr');

  it('A changes the password with « Se déconnecter des autres appareils »: B is signed out, A stays', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const user = await portal.activeUser('dlefevre');
    // The harness's own HTTP session ends: only the two browsers remain.
    const home = await user.client.get('/compte');
    await user.client.post('/deconnexion', { _csrf: user.client.csrf(home.text) });

    const a = await newPage(browser);
    const b = await newPage(browser);
    try {
      await signIn(a, user.login, user.password);
      await signIn(b, user.login, user.password);
      await a.reload();
      expect(await heading(a)).toBe('Mon compte');
      expect(await sessionRows(a).count()).toBe(2);
      expect(await sessionRows(a).filter({ hasText: 'Cette session' }).count()).toBe(1);

      // A wrong current password: the error state of Mon compte, tied to the field.
      await labelled(a, 'Ancien mot de passe').fill('pas-le-bon-Mot2passe!');
      await labelled(a, 'Nouveau mot de passe').fill(NEW_PASSWORD);
      await labelled(a, 'Confirmation du nouveau mot de passe').fill(NEW_PASSWORD);
      const refused = await clickAndWait(a, a.getByRole('button', { name: 'Valider' }));
      expect(refused?.status()).toBe(400);
      const current = labelled(a, 'Ancien mot de passe');
      expect(await current.getAttribute('aria-invalid')).toBe('true');
      expect(await description(current)).toContain('« Ancien mot de passe » est incorrect.');
      expect(['ancien_mot_de_passe', 'erreurs']).toContain(await focusedId(a));
      expect(await a.getByRole('alert').textContent()).toContain('« Ancien mot de passe » est incorrect.');
      await expectNoAxeViolations(a, 'Mon compte, mot de passe actuel erroné');

      // The right one, the box ticked.
      await current.fill(user.password);
      await labelled(a, 'Nouveau mot de passe').fill(NEW_PASSWORD);
      await labelled(a, 'Confirmation du nouveau mot de passe').fill(NEW_PASSWORD);
      const others = a.getByLabel('Se déconnecter des autres appareils');
      await others.check();
      expect(await others.isChecked()).toBe(true);
      await clickAndWait(a, a.getByRole('button', { name: 'Valider' }));
      expect(new URL(a.url()).pathname).toBe('/compte');
      const notices = await a.getByRole('status').allTextContents();
      expect(notices.join(' ')).toContain('Votre changement de mot de passe a bien été pris en compte.');
      expect(notices.join(' ')).toContain('Vos autres appareils ont été déconnectés (1).');
      expect(await sessionRows(a).count()).toBe(1);
      await expectNoAxeViolations(a, 'Mon compte, mot de passe changé');

      // B's next navigation lands on the sign-in page; A is still signed in.
      await b.reload();
      expect(new URL(b.url()).pathname).toBe('/connexion');
      expect(await heading(b)).toBe('Se connecter');
      await a.goto(`${portal.url}/compte`);
      expect(a.url()).toBe(`${portal.url}/compte`);
      expect(await heading(a)).toBe('Mon compte');

      // The new password opens a session.
      await signIn(b, user.login, NEW_PASSWORD);
      expect(pageProblems(a)).toEqual([]);
      expect(pageProblems(b)).toEqual([]);
    } finally {
      await a.context().close();
      await b.context().close();
    }
  });
});
