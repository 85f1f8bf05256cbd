// The support desk in real Chromium: the agent signs in (password, then the code mailed), searches a
// user, resets their password with a reason; the mails go to the user and the agent never sees the
// temporary password. Every page visited passes axe-core.

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import {
  clickAndWait, describeBrowser, expectNoAxeViolations, heading, labelled, JOURNEY_TIMEOUT_MS, launchBrowser, START_TIMEOUT_MS, newPage, pageProblems,
} from '../support/browser.ts';
import { startPortal, type Portal } from '../support/portal.ts';

describeBrowser('browser: support desk', () => {
  let portal: Portal;
  let browser: Browser;
  beforeAll(async () => {
    [portal, browser] = await Promise.all([startPortal('pglite'), launchBrowser()]);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  it('an agent resets a password with a reason, without ever seeing it', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const agent = await portal.activeUser('agent.navigateur');
    expect(await runCommand(portal.ctx, ['support', 'agent.navigateur'], { out: () => {}, err: () => {} })).toBe(0);
    const user = await portal.activeUser('dr.navigateur');
    await portal.deliver();
    portal.smtp.clear();
    const page = await newPage(browser);
    try {
      await page.goto(`${portal.url}/connexion`);
      await clickAndWait(page, page.getByRole('link', { name: 'Ce n’était pas moi ? Signaler au support' }));
      expect(await heading(page)).toBe('Ce n’était pas moi');
      await expectNoAxeViolations(page, 'Ce n’était pas moi');
      await page.goto(`${portal.url}/connexion`);
      await labelled(page, 'Identifiant').fill(agent.login);
      await labelled(page, 'Mot de passe').fill(agent.password);
      await clickAndWait(page, page.getByRole('button', { name: 'Se connecter' }));
      expect(new URL(page.url()).pathname).toBe('/verification');
      const code = /Code : (\d{6})/.exec((await portal.mail(agent.email, /code de connexion/)).text)![1]!;
      await labelled(page, 'Code').fill(code);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));

      await clickAndWait(page, page.getByRole('link', { name: 'Support', exact: true }));
      expect(await heading(page)).toBe('Support');
      await expectNoAxeViolations(page, 'Support');
      await labelled(page, 'Identifiant, nom, adresse e-mail ou établissement').fill('navigateur');
      await clickAndWait(page, page.getByRole('button', { name: 'Rechercher' }));
      await expectNoAxeViolations(page, 'Support, résultats');
      await clickAndWait(page, page.getByRole('link', { name: 'dr.navigateur' }));
      expect(await heading(page)).toBe('Utilisateur dr.navigateur');
      await expectNoAxeViolations(page, 'Fiche utilisateur');

      await clickAndWait(page, page.getByRole('link', { name: 'Réinitialiser le mot de passe' }));
      expect(await heading(page)).toBe('Réinitialiser le mot de passe');
      await expectNoAxeViolations(page, 'Confirmation de la réinitialisation');
      await clickAndWait(page, page.getByRole('button', { name: /Confirmer/ }));
      expect(await page.getByRole('alert').textContent()).toContain('Motif');
      await expectNoAxeViolations(page, 'Motif manquant');
      await labelled(page, 'Motif').fill('Rappel au numéro de l’annuaire, identité vérifiée');
      await clickAndWait(page, page.getByRole('button', { name: /Confirmer/ }));
      expect(await heading(page)).toBe('Utilisateur dr.navigateur');
      expect(await page.getByRole('status').first().textContent()).toContain('Un nouveau mot de passe provisoire a été envoyé');

      await portal.mail(user.email, /votre identifiant de connexion/);
      const temporary = /Mot de passe provisoire : (\S+)/.exec((await portal.mail(user.email, /mot de passe provisoire/)).text)![1]!;
      expect(await page.content()).not.toContain(temporary);
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });
});
