// First connection in real Chromium: sign in with the temporary password, the server's French
// errors tied to the field, the rules ticked live by app.js, the new password, « Mon compte ».
// Every page visited passes axe-core (WCAG 2.1 A/AA + best practices).

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  clickAndWait, describeBrowser, labelled, description, expectNoAxeViolations, expectReflow, focusedId, heading, JOURNEY_TIMEOUT_MS, launchBrowser, START_TIMEOUT_MS, newPage, pageProblems, screenshot,
} from '../support/browser.ts';
import { startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';

describeBrowser('browser: first connection (JavaScript on)', () => {
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
    await labelled(page, 'Identifiant').fill(identifier);
    await labelled(page, 'Mot de passe').fill(password);
    return clickAndWait(page, page.getByRole('button', { name: 'Se connecter' }));
  };

  it('signs in with the temporary password, refuses a weak one, ticks the rules, reaches Mon compte', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const user = await portal.createUser('cmartin');
    const page = await newPage(browser);
    try {
      await page.goto(`${portal.url}/connexion`);
      expect(await heading(page)).toBe('Se connecter');
      expect(await focusedId(page)).toBe('identifiant');
      await expectNoAxeViolations(page, 'Se connecter');
      await expectReflow(page, 'Se connecter');
      await screenshot(page, 'login');

      await signIn(page, user.login, user.temporary);
      expect(page.url()).toBe(`${portal.url}/premiere-connexion`);
      expect(await heading(page)).toBe('Première connexion');

      // The __Host- session cookie (Secure) is kept by Chromium on http://127.0.0.1, a secure context.
      const cookies = await page.context().cookies();
      expect(cookies.find((c) => c.name === '__Host-sesame'), JSON.stringify(cookies))
        .toMatchObject({ secure: true, httpOnly: true, path: '/', sameSite: 'Lax' });
      expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
      await page.reload();
      expect(page.url()).toBe(`${portal.url}/premiere-connexion`);
      await expectNoAxeViolations(page, 'Première connexion');

      // app.js ticks the rules as one types.
      const newPassword = labelled(page, 'Nouveau mot de passe');
      const ticked = () => page.locator('li[data-rule].ok').evaluateAll((lis) => lis.map((li) => li.getAttribute('data-rule')));
      const status = () => page.locator('[data-rules-status]').textContent();
      expect(await ticked()).toEqual([]);
      await newPassword.pressSequentially('abc');
      await expect.poll(ticked).toEqual(['lower']);
      expect(await status()).toBe('1 / 5');
      await newPassword.pressSequentially('DEF-12345678');
      await expect.poll(ticked).toEqual(['min-length', 'digit', 'upper', 'lower', 'special']);
      expect(await status()).toBe('5 / 5');

      // A weak password: the server's French message, tied to the field.
      await newPassword.fill('motdepasse');
      await labelled(page, 'Confirmation du nouveau mot de passe').fill('motdepasse');
      const refused = await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(refused?.status()).toBe(400);
      expect(await page.title()).toMatch(/^Erreur : Première connexion/);
      expect(await page.getByRole('alert').textContent()).toContain('Le formulaire contient');
      const field = page.locator('#nouveau_mot_de_passe');
      expect(await field.getAttribute('aria-invalid')).toBe('true');
      expect(await description(field)).toContain('« Nouveau mot de passe » : 12 caractères minimum.');
      expect(await page.locator('#nouveau_mot_de_passe-erreur-0').textContent()).toContain('« Nouveau mot de passe » : 12 caractères minimum.');
      expect(['nouveau_mot_de_passe', 'erreurs']).toContain(await focusedId(page));
      // The rules list reflects what was kept in the field (nothing: passwords are never sent back).
      expect(await field.inputValue()).toBe('');
      // The summary's link leads to the field.
      await page.getByRole('alert').getByRole('link').first().click();
      expect(await focusedId(page)).toBe('nouveau_mot_de_passe');
      await expectNoAxeViolations(page, 'Première connexion, avec erreurs');
      await screenshot(page, 'first-connection-errors');

      // A strong password and its confirmation.
      await field.fill(STRONG_PASSWORD);
      await labelled(page, 'Confirmation du nouveau mot de passe').fill(STRONG_PASSWORD);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(await heading(page)).toBe('Confirmation');
      expect(await page.getByRole('status').textContent()).toContain('Votre changement de mot de passe est effectué.');
      await expectNoAxeViolations(page, 'Confirmation');

      await clickAndWait(page, page.getByRole('main').getByRole('link', { name: 'Mon compte' }));
      expect(page.url()).toBe(`${portal.url}/compte`);
      expect(await heading(page)).toBe('Mon compte');
      expect(await page.getByRole('main').textContent()).toContain(user.email);
      await expectNoAxeViolations(page, 'Mon compte');
      await expectReflow(page, 'Mon compte');
      await screenshot(page, 'account');
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('login failure, 404 (skip link included) and the English login page pass axe too', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const page = await newPage(browser);
    try {
      await page.goto(`${portal.url}/connexion`);
      const failed = await signIn(page, 'personne', 'pas-le-bon-mot-de-passe');
      expect(failed?.status()).toBe(401);
      expect(await page.getByRole('alert').textContent()).toContain('Identifiant ou mot de passe incorrect');
      // The identifier is kept; the focus goes to the password field.
      expect(await labelled(page, 'Identifiant').inputValue()).toBe('personne');
      expect(await focusedId(page)).toBe('mot_de_passe');
      expect((await page.context().cookies()).map((c) => c.name)).not.toContain('__Host-sesame');
      await expectNoAxeViolations(page, 'Se connecter, échec');

      const missing = await page.goto(`${portal.url}/nulle-part`);
      expect(missing?.status()).toBe(404);
      expect(await heading(page)).toBe('Page introuvable');
      await expectNoAxeViolations(page, '404');
      // The first Tab shows « Aller au contenu »; it moves the focus to the main content.
      await page.keyboard.press('Tab');
      const skip = page.getByRole('link', { name: 'Aller au contenu' });
      expect(await focusedId(page)).toBe('a');
      expect(await skip.evaluate((el) => el === document.activeElement && el.getBoundingClientRect().left >= 0)).toBe(true);
      await page.keyboard.press('Enter');
      await page.waitForFunction(() => document.activeElement?.id === 'contenu');

      await page.goto(`${portal.url}/connexion`);
      await clickAndWait(page, page.getByRole('link', { name: 'English' }));
      expect(page.url()).toBe(`${portal.url}/connexion`);
      expect(await heading(page)).toBe('Sign in');
      expect(await page.locator('html').getAttribute('lang')).toBe('en');
      expect(await labelled(page, 'Identifier').isVisible()).toBe(true);
      await expectNoAxeViolations(page, 'Sign in (English)');
      await clickAndWait(page, page.getByRole('link', { name: 'Français' }));
      expect(await heading(page)).toBe('Se connecter');
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });
});
