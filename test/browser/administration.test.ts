// Seed 002 « Comment créer un nouveau nom d'utilisateur » in real Chromium, with axe scans: the account
// administrator invites a new identity with a new address, the person accepts, the old identity is deleted.

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  clickAndWait, describeBrowser, expectNoAxeViolations, heading, labelled, JOURNEY_TIMEOUT_MS, launchBrowser, START_TIMEOUT_MS, newPage, pageProblems,
} from '../support/browser.ts';
import { startPortal, type Portal } from '../support/portal.ts';
import { establishment, grant, invitationToken } from '../flows/admin-helpers.ts';

const NEW_PASSWORD = 'Tg7!glycine-Ardoise';

describeBrowser('browser: add and manage users (seed 002)', () => {
  let portal: Portal;
  let browser: Browser;
  beforeAll(async () => {
    [portal, browser] = await Promise.all([startPortal('pglite'), launchBrowser()]);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  it('new identity with a new address, then « Supprimer l’utilisateur » on the old one', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const est = await establishment(portal, 'Centre hospitalier de Dieppe');
    const admin = await portal.activeUser('adm.dieppe');
    const old = await portal.activeUser('ancien.nom');
    await grant(portal, old.userId, est, ['member']);

    const a = await newPage(browser);
    const b = await newPage(browser);
    try {
      await a.goto(`${portal.url}/connexion`);
      await labelled(a, 'Identifiant').fill(admin.login);
      await labelled(a, 'Mot de passe').fill(admin.password);
      await clickAndWait(a, a.getByRole('button', { name: 'Se connecter' }));
      // The admin right is granted once signed in (the second factor it requires is tested elsewhere).
      await grant(portal, admin.userId, est, ['admin']);

      // 1–2. « Compte » → « Ajouter et gérer des utilisateurs ».
      await a.goto(`${portal.url}/compte`);
      await clickAndWait(a, a.getByRole('link', { name: 'Ajouter et gérer des utilisateurs' }).first());
      expect(await heading(a)).toBe('Ajouter et gérer des utilisateurs');
      await expectNoAxeViolations(a, 'liste des utilisateurs');

      // 3. « Ajouter un utilisateur » puis « Nouvel utilisateur ».
      await clickAndWait(a, a.getByRole('link', { name: 'Ajouter un utilisateur' }));
      await expectNoAxeViolations(a, 'ajouter un utilisateur');
      await clickAndWait(a, a.getByRole('link', { name: 'Nouvel utilisateur' }));
      // 4. Nom, adresse e-mail, « Étape suivante : configuration des droits d'accès » (an error first).
      await labelled(a, 'Nom').fill('Claire Nouveau');
      const refused = await clickAndWait(a, a.getByRole('button', { name: 'Étape suivante : configuration des droits d’accès' }));
      expect(refused?.status()).toBe(400);
      expect(await labelled(a, 'Adresse e-mail').getAttribute('aria-invalid')).toBe('true');
      await expectNoAxeViolations(a, 'nouvel utilisateur, erreur');
      await labelled(a, 'Adresse e-mail').fill('claire.nouvelle@dieppe.test.example');
      await clickAndWait(a, a.getByRole('button', { name: 'Étape suivante : configuration des droits d’accès' }));
      expect(await heading(a)).toBe('Configuration des droits d’accès');
      await expectNoAxeViolations(a, 'droits d’accès');
      // 5. Rights, « Envoyer l'invitation ».
      await a.getByLabel('Membre').check();
      await clickAndWait(a, a.getByRole('button', { name: 'Envoyer l’invitation' }));
      expect(await a.getByRole('status').first().textContent()).toContain('L’invitation a été envoyée');
      expect(await a.locator('#invitations').locator('..').textContent()).toContain('Invitation envoyée');
      await expectNoAxeViolations(a, 'liste avec invitation');

      // The person accepts from the mail.
      const token = await invitationToken(portal, 'claire.nouvelle@dieppe.test.example');
      await b.goto(`${portal.url}/invitation/${token}`);
      expect(await heading(b)).toBe('Accepter une invitation');
      expect(await labelled(b, 'Identifiant').inputValue()).toBe('claire.nouvelle');
      await expectNoAxeViolations(b, 'invitation');
      await labelled(b, 'Nouveau mot de passe').fill(NEW_PASSWORD);
      await labelled(b, 'Confirmation du nouveau mot de passe').fill(NEW_PASSWORD);
      await clickAndWait(b, b.getByRole('button', { name: 'Créer mon compte et accepter l’invitation' }));
      expect(await heading(b)).toBe('Invitation acceptée');
      await expectNoAxeViolations(b, 'invitation acceptée');

      // « Gérer » beside the old identifier, « Supprimer l'utilisateur », confirmation.
      await a.goto(`${portal.url}/compte/utilisateurs`);
      await clickAndWait(a, a.getByRole('link', { name: 'Gérer Camille Martin (ancien.nom)' }));
      expect(await a.textContent('main')).toContain('ne peut pas modifier l’adresse e-mail');
      await expectNoAxeViolations(a, 'gérer');
      await clickAndWait(a, a.getByRole('link', { name: 'Supprimer l’utilisateur' }));
      await expectNoAxeViolations(a, 'confirmation de suppression');
      await clickAndWait(a, a.getByRole('button', { name: 'Supprimer l’utilisateur' }));
      expect(await a.getByRole('status').first().textContent()).toContain('supprimé');
      expect(await a.textContent('main')).not.toContain('ancien.nom');
      expect(await a.textContent('main')).toContain('claire.nouvelle');
      expect(pageProblems(a)).toEqual([]);
      expect(pageProblems(b)).toEqual([]);
    } finally {
      await a.context().close();
      await b.context().close();
    }
  });
});
