// « Mot de passe oublié » end to end in real Chromium, captcha included: the proof of work solves
// itself in the page (assets/captcha.js), the mail's « Valider » link opens the reset page, the new
// password signs in, the used link is refused. Every page visited passes axe-core.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  clickAndWait, describeBrowser, expectNoAxeViolations, heading, labelled, JOURNEY_TIMEOUT_MS, launchBrowser, START_TIMEOUT_MS, newPage, pageProblems, resetLink, screenshot,
} from '../support/browser.ts';
import { startPortal, type Portal } from '../support/portal.ts';

const NEW_PASSWORD = 'Hx4?mimosa-Carillon';

describeBrowser('browser: forgotten password with the captcha (JavaScript on)', () => {
  let portal: Portal;
  let browser: Browser;
  beforeAll(async () => {
    [portal, browser] = await Promise.all([startPortal('pglite'), launchBrowser()]);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  it('asks for a link, the captcha solves itself, the mailed link sets a new password, which signs in', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const user = await portal.activeUser('emoreau');
    await portal.deliver();
    portal.smtp.clear();
    const page = await newPage(browser);
    try {
      await page.goto(`${portal.url}/connexion`);
      await clickAndWait(page, page.getByRole('link', { name: 'Mot de passe oublié ?' }));
      expect(new URL(page.url()).pathname).toBe('/mot-de-passe-oublie');
      expect(await heading(page)).toBe('Mot de passe oublié');
      await labelled(page, 'Votre identifiant ou adresse e-mail').fill(user.email);

      // The proof of work runs in the page; its outcome is announced in a status region.
      const status = page.getByRole('status').filter({ hasText: 'Vérification anti-robot' });
      await status.filter({ hasText: 'réussie' }).waitFor({ timeout: 30_000 });
      expect(await status.textContent()).toBe('Vérification anti-robot réussie : vous n’avez rien à faire.');
      // With the proof found, the fallback question is out of the way.
      expect(await page.getByLabel(/combien font/).isVisible()).toBe(false);
      await expectNoAxeViolations(page, 'Mot de passe oublié');
      await screenshot(page, 'forgot-password');

      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(await heading(page)).toBe('Confirmation');
      expect(await page.getByRole('status').textContent()).toContain('Votre demande de changement de mot de passe est prise en compte.');
      await expectNoAxeViolations(page, 'Mot de passe oublié, confirmation');

      const mail = await portal.mail(user.email, /demande de changement de mot de passe/);
      const link = resetLink(mail.html, portal);
      await page.goto(link);
      expect(await heading(page)).toBe('Nouveau mot de passe');
      await expectNoAxeViolations(page, 'Nouveau mot de passe');
      await labelled(page, 'Nouveau mot de passe').fill(NEW_PASSWORD);
      await labelled(page, 'Confirmation du nouveau mot de passe').fill(NEW_PASSWORD);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(await heading(page)).toBe('Confirmation');
      expect(await page.getByRole('status').textContent()).toContain('Vous pouvez maintenant vous connecter.');
      await expectNoAxeViolations(page, 'Nouveau mot de passe, confirmation');

      // The link works once.
      const reused = await page.goto(link);
      expect(reused?.status()).toBe(410);
      expect(await heading(page)).toBe('Lien invalide');
      await expectNoAxeViolations(page, 'Lien invalide');

      await page.goto(`${portal.url}/connexion`);
      await labelled(page, 'Identifiant').fill(user.login);
      await labelled(page, 'Mot de passe').fill(NEW_PASSWORD);
      await clickAndWait(page, page.getByRole('button', { name: 'Se connecter' }));
      expect(page.url()).toBe(`${portal.url}/compte`);
      expect(await heading(page)).toBe('Mon compte');
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });
});
