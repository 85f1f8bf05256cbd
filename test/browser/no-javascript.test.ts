// The same journeys in real Chromium with JavaScript disabled: every page must work without app.js
// and captcha.js (progressive enhancement). The captcha falls back to its text question, answered
// as a person would read it.

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  clickAndWait, describeBrowser, expectNoAxeViolations, heading, labelled, JOURNEY_TIMEOUT_MS, launchBrowser, START_TIMEOUT_MS, newPage, pageProblems, resetLink, screenshot,
} from '../support/browser.ts';
import { CAPTCHA_FIELDS } from '../../src/security/captcha.ts';
import { captchaTextAnswer } from '../support/captcha.ts';
import { startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';

const RESET_PASSWORD = 'Pw9%anemone-Boussole';
const CHANGED_PASSWORD = 'Kz2&tilleul-Verveine';

describeBrowser('browser: the journeys with JavaScript disabled', () => {
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
  };
  const setPassword = async (page: Page, password: string) => {
    await labelled(page, 'Nouveau mot de passe').fill(password);
    await labelled(page, 'Confirmation du nouveau mot de passe').fill(password);
    return clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
  };

  it('first connection, forgotten password (captcha question), change password', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const user = await portal.createUser('gbernard');
    const page = await newPage(browser, { javaScriptEnabled: false });
    const other = await newPage(browser, { javaScriptEnabled: false });
    try {
      // First connection.
      await signIn(page, user.login, user.temporary);
      expect(page.url()).toBe(`${portal.url}/premiere-connexion`);
      // The page's scripts did not run (app.js writes « 0 / 5 » there on load): the rules are listed,
      // not ticked, and « Afficher les mots de passe » stays hidden.
      expect(await page.locator('[data-rules-status]').textContent()).toBe('');
      expect(await page.locator('li[data-rule]').count()).toBe(5);
      expect(await page.getByLabel('Afficher les mots de passe').isVisible()).toBe(false);
      const weak = await setPassword(page, 'court');
      expect(weak?.status()).toBe(400);
      expect(await labelled(page, 'Nouveau mot de passe').getAttribute('aria-invalid')).toBe('true');
      const done = await setPassword(page, STRONG_PASSWORD);
      expect(done?.status()).toBe(200);
      expect(await heading(page)).toBe('Confirmation');
      await clickAndWait(page, page.getByRole('main').getByRole('link', { name: 'Mon compte' }));
      expect(page.url()).toBe(`${portal.url}/compte`);
      await clickAndWait(page, page.getByRole('button', { name: 'Se déconnecter' }));
      expect(page.url()).toBe(`${portal.url}/connexion?fin`);
      expect(await page.getByRole('status').textContent()).toContain('Vous êtes déconnecté.');

      // Forgotten password: the captcha asks its question.
      await portal.deliver();
      portal.smtp.clear();
      await clickAndWait(page, page.getByRole('link', { name: 'Mot de passe oublié ?' }));
      expect(await heading(page)).toBe('Mot de passe oublié');
      await labelled(page, 'Votre identifiant ou adresse e-mail').fill(user.login);
      const question = page.getByLabel(/combien font \d+ \+ \d+/);
      expect(await question.isVisible()).toBe(true);
      await expectNoAxeViolations(page, 'Mot de passe oublié, sans JavaScript');
      await screenshot(page, 'forgot-password-no-js');
      // A wrong answer: the form comes back with the captcha's error, tied to the field.
      await question.fill('9999');
      const wrong = await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(wrong?.status()).toBe(400);
      expect(await page.getByRole('alert').textContent()).toContain('Code à recopier');
      expect(await page.getByLabel(/combien font/).getAttribute('aria-invalid')).toBe('true');
      expect(await labelled(page, 'Votre identifiant ou adresse e-mail').inputValue()).toBe(user.login);
      await expectNoAxeViolations(page, 'Mot de passe oublié, captcha erroné, sans JavaScript');
      // The right answer, read from the page as a person would.
      const answer = captchaTextAnswer(await page.content())[CAPTCHA_FIELDS.answer];
      expect(answer).toMatch(/^\d+$/);
      await page.getByLabel(/combien font/).fill(answer!);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(await heading(page)).toBe('Confirmation');

      const mail = await portal.mail(user.email, /demande de changement de mot de passe/);
      await page.goto(resetLink(mail.html, portal));
      expect(await heading(page)).toBe('Nouveau mot de passe');
      await setPassword(page, RESET_PASSWORD);
      expect(await heading(page)).toBe('Confirmation');
      await clickAndWait(page, page.getByRole('main').getByRole('link', { name: 'Se connecter' }));
      await signIn(page, user.login, RESET_PASSWORD);
      expect(page.url()).toBe(`${portal.url}/compte`);

      // Change password from Mon compte, ending the other device's session.
      await signIn(other, user.login, RESET_PASSWORD);
      expect(other.url()).toBe(`${portal.url}/compte`);
      await page.reload();
      expect(await page.getByRole('region', { name: 'Mes sessions actives' }).locator('tbody tr').count()).toBe(2);
      await labelled(page, 'Ancien mot de passe').fill(RESET_PASSWORD);
      await page.getByLabel('Se déconnecter des autres appareils').check();
      await setPassword(page, CHANGED_PASSWORD);
      expect(new URL(page.url()).pathname).toBe('/compte');
      expect((await page.getByRole('status').allTextContents()).join(' ')).toContain('Vos autres appareils ont été déconnectés (1).');
      expect(await page.getByRole('region', { name: 'Mes sessions actives' }).locator('tbody tr').count()).toBe(1);
      await expectNoAxeViolations(page, 'Mon compte, sans JavaScript');
      await other.reload();
      expect(new URL(other.url()).pathname).toBe('/connexion');
      await signIn(other, user.login, CHANGED_PASSWORD);
      expect(other.url()).toBe(`${portal.url}/compte`);
      expect(pageProblems(page)).toEqual([]);
      expect(pageProblems(other)).toEqual([]);
    } finally {
      await page.context().close();
      await other.context().close();
    }
  });
});
