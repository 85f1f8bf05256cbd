// The second factor in real Chromium (seeds 003 and 004): with JavaScript the code form is a modal
// dialog (the seeds' pop-up « Votre code vous a été transmis… »), without it the same content is a page;
// the choice « E-mail » / « SMS » with a verified backup phone; « Enregistrer la double authentification
// pendant 24 heures » across two browser contexts (another professional cancels it, it expires, a
// password change or « Révoquer les navigateurs de confiance » ends it); Mon compte's security pages.
// Every page and dialog state visited passes axe-core and shows no raw translation key.

import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { maskEmail, maskPhone } from '../../src/domain/masking.ts';
import { isMessageKey } from '../../src/web/i18n.ts';
import {
  clickAndWait, description, describeBrowser, expectNoAxeViolations, expectReflow, focusedId, heading, JOURNEY_TIMEOUT_MS, labelled, launchBrowser,
  newPage, pageProblems, screenshot, START_TIMEOUT_MS,
} from '../support/browser.ts';
import { startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';

const CODE_IN_MAIL = /Code : (\d{6})/;
const NEW_PASSWORD = 'Hb7!girafe-Tournesol';
const PHONE = '+33612345678';
const TITLE = 'Authentification à deux facteurs';
const TRUST_BOX = 'Enregistrer la double authentification pendant 24 heures';
const ONLY_CHANNEL = 'Votre code vous a été transmis sur le seul mode de transport disponible pour votre compte';

/** Words shaped like catalogue keys (« 2fa.code », « account.trusted.none ») that are keys of src/web/i18n.ts. */
function rawKeys(text: string): string[] {
  return [...text.matchAll(/(?<![\w.@-])[a-z0-9]+(?:\.[a-zA-Z0-9-]+){1,3}(?![\w@-])/g)].map((m) => m[0]).filter((word) => isMessageKey(word));
}

describeBrowser('browser: second factor (dialog, choice, trusted browser, Mon compte security)', () => {
  let portal: Portal;
  let browser: Browser;
  beforeAll(async () => {
    [portal, browser] = await Promise.all([startPortal('pglite'), launchBrowser()]);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await portal?.close();
  });

  /** axe-core, and no catalogue key shown instead of its wording (text, title, labelling attributes). */
  const check = async (page: Page, label: string) => {
    await expectNoAxeViolations(page, label);
    const shown = await page.evaluate(() => {
      const parts = [document.title];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) parts.push(node.nodeValue ?? '');
      document.querySelectorAll('[aria-label], [alt], [title], [placeholder]').forEach((el) => {
        for (const name of ['aria-label', 'alt', 'title', 'placeholder']) parts.push(el.getAttribute(name) ?? '');
      });
      return parts.join('\n');
    });
    expect(rawKeys(shown), `raw translation keys on « ${label} »`).toEqual([]);
  };

  /** The mail count once the outbox is delivered: later code mails are the ones of the next sign-in. */
  const mark = async () => {
    await portal.deliver();
    return portal.smtp.messages.length;
  };

  /** The code of the first « code de connexion » mail to `email` received after `since`. */
  const mailedCode = async (email: string, since: number): Promise<string> => {
    await portal.deliver();
    const mail = await portal.smtp.waitFor((m) => portal.smtp.messages.indexOf(m) >= since && m.to.includes(email) && /code de connexion/.test(m.subject));
    const code = CODE_IN_MAIL.exec(mail.text)?.[1];
    if (!code) throw new Error(`no code in:\n${mail.text}`);
    return code;
  };

  const wrongCode = (right: string) => (right === '000000' ? '111111' : '000000');

  /** An admin whose first connection is done over HTTP (e-mailed code, then the definitive password). */
  async function admin(login: string, name = 'Camille Martin') {
    const user = await portal.createUser(login, { roles: ['admin'], name });
    const client = portal.client();
    const since = await mark();
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary })).location).toBe('/verification');
    expect((await client.submit('/verification', { code: await mailedCode(user.email, since) })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    await client.post('/deconnexion', { _csrf: client.csrf((await client.get('/compte')).text) });
    return { login, email: user.email, userId: user.userId };
  }

  /** Identifier and password on « Se connecter »; resolves on the page that follows. */
  const passwordStep = async (page: Page, login: string, password = STRONG_PASSWORD) => {
    await page.goto(`${portal.url}/connexion`);
    await labelled(page, 'Identifiant').fill(login);
    await labelled(page, 'Mot de passe').fill(password);
    await clickAndWait(page, page.getByRole('button', { name: 'Se connecter' }));
    return new URL(page.url()).pathname;
  };

  const codeDialog = (page: Page) => page.getByRole('dialog', { name: TITLE });
  const isModal = (dialog: Locator) => dialog.evaluate((d) => (d as HTMLDialogElement).open && d.matches(':modal'));

  /** The code typed (or pasted) in « Code », the box ticked or not, « Valider »; returns the next path. */
  const enterCode = async (page: Page, code: string, opts: { trust?: boolean } = {}) => {
    await labelled(page, 'Code').fill(code);
    if (opts.trust) await page.getByLabel(TRUST_BOX).check();
    await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
    return new URL(page.url()).pathname;
  };

  const signOut = async (page: Page) => {
    await clickAndWait(page, page.getByRole('button', { name: 'Se déconnecter' }));
    expect(new URL(page.url()).pathname).toBe('/connexion');
  };

  const trustedRows = (page: Page) => page.getByRole('table', { name: 'Navigateurs de confiance' }).locator('tbody tr');

  it('recognises raw catalogue keys (the check used on every page)', () => {
    expect(rawKeys('Voir 2fa.code et account.trusted.none, pas hxxx.example ni axxx@hxxx.example ni 1.5.')).toEqual(['2fa.code', 'account.trusted.none']);
  });

  it('with JavaScript: the code in a modal dialog, a wrong code, first connection, Escape, « Annuler », Mon compte', { timeout: JOURNEY_TIMEOUT_MS * 2 }, async () => {
    const user = await portal.createUser('adm.dialogue', { roles: ['admin'] });
    const page = await newPage(browser);
    try {
      let since = await mark();
      expect(await passwordStep(page, user.login, user.temporary)).toBe('/verification');
      const dialog = codeDialog(page);
      expect(await isModal(dialog)).toBe(true);
      // The dialog is named by the page's h1 and described by where the code went.
      const sentence = `${ONLY_CHANNEL} : 'Email : ${maskEmail(user.email)}'.`;
      expect(await dialog.getByRole('heading', { level: 1 }).textContent()).toBe(TITLE);
      expect(await dialog.evaluate((d) => document.getElementById(d.getAttribute('aria-labelledby') ?? '')?.tagName)).toBe('H1');
      expect(await description(dialog)).toBe(sentence);
      expect(await dialog.getByText(ONLY_CHANNEL).isVisible()).toBe(true);
      expect(await focusedId(page)).toBe('code');
      expect(await page.title()).toBe(`${TITLE} — Portail Test`);
      await check(page, 'Code, dialogue');
      await expectReflow(page, 'Code, dialogue');
      await screenshot(page, 'second-factor-dialog');

      // No auto-submit: six digits typed stay in the field until « Valider ».
      const code = await mailedCode(user.email, since);
      const field = labelled(page, 'Code');
      await field.pressSequentially(wrongCode(code));
      await page.waitForTimeout(300);
      expect(new URL(page.url()).pathname).toBe('/verification');
      expect(await field.inputValue()).toBe(wrongCode(code));
      // A wrong code: the dialog again, the error tied to the field, the attempts left.
      const refused = await clickAndWait(page, dialog.getByRole('button', { name: 'Valider' }));
      expect(refused?.status()).toBe(400);
      expect(await isModal(dialog)).toBe(true);
      expect(await page.title()).toBe(`Erreur : ${TITLE} — Portail Test`);
      expect(await dialog.getByRole('alert').textContent()).toContain('Le formulaire contient 1 erreur(s)');
      expect(await field.getAttribute('aria-invalid')).toBe('true');
      expect(await description(field)).toContain('« Code » est incorrect. Il vous reste 4 essai(s).');
      expect(await focusedId(page)).toBe('code');
      expect(await field.inputValue()).toBe('');
      await check(page, 'Code, dialogue, code erroné');
      await screenshot(page, 'second-factor-dialog-error');

      // The right code, pasted with spaces (the server cleans it), nothing sent until « Valider ».
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: portal.url });
      await page.evaluate((text) => navigator.clipboard.writeText(text), ` ${code.slice(0, 3)} ${code.slice(3)} `);
      await field.focus();
      await page.keyboard.press('Control+V');
      expect(await field.inputValue()).toBe(` ${code.slice(0, 3)} ${code.slice(3)} `);
      await page.waitForTimeout(300);
      expect(new URL(page.url()).pathname).toBe('/verification');
      await clickAndWait(page, dialog.getByRole('button', { name: 'Valider' }));
      // First connection: the code, then « Première connexion ».
      expect(new URL(page.url()).pathname).toBe('/premiere-connexion');
      expect(await heading(page)).toBe('Première connexion');
      await check(page, 'Première connexion après le code');
      await labelled(page, 'Nouveau mot de passe').fill(STRONG_PASSWORD);
      await labelled(page, 'Confirmation du nouveau mot de passe').fill(STRONG_PASSWORD);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(await heading(page)).toBe('Confirmation');
      await signOut(page);

      // Escape closes the dialog and leaves the same form as a page: no dead end, nothing lost.
      since = await mark();
      expect(await passwordStep(page, user.login)).toBe('/verification');
      expect(await isModal(dialog)).toBe(true);
      await page.keyboard.press('Escape');
      await expect.poll(() => page.locator('dialog').count()).toBe(0);
      expect(await heading(page)).toBe(TITLE);
      expect(await page.getByText(ONLY_CHANNEL).isVisible()).toBe(true);
      expect(await field.isVisible()).toBe(true);
      expect(await focusedId(page)).toBe('code');
      expect(await page.getByRole('link', { name: 'English' }).isVisible()).toBe(true);
      await check(page, 'Code, dialogue fermé par Échap');
      // « Annuler et revenir à la connexion » ends the attempt.
      await clickAndWait(page, page.getByRole('button', { name: 'Annuler et revenir à la connexion' }));
      expect(new URL(page.url()).pathname).toBe('/connexion');
      expect((await page.context().cookies()).map((c) => c.name)).not.toContain('__Host-sesame-2fa');
      await mailedCode(user.email, since);

      // Again, to the end: the code from the mail, « Mon compte ».
      since = await mark();
      expect(await passwordStep(page, user.login)).toBe('/verification');
      expect(await enterCode(page, await mailedCode(user.email, since))).toBe('/compte');
      expect(await heading(page)).toBe('Mon compte');
      await check(page, 'Mon compte après le code');
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('without JavaScript: the same content as a page, a wrong code, then « Première connexion » and Mon compte', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const user = await portal.createUser('adm.sansjs', { roles: ['admin'] });
    const page = await newPage(browser, { javaScriptEnabled: false });
    try {
      const since = await mark();
      expect(await passwordStep(page, user.login, user.temporary)).toBe('/verification');
      expect(await page.locator('dialog').count()).toBe(0);
      expect(await page.getByRole('dialog').count()).toBe(0);
      expect(await heading(page)).toBe(TITLE);
      expect(await page.locator('#code-destination').textContent()).toBe(`${ONLY_CHANNEL} : 'Email : ${maskEmail(user.email)}'.`);
      const field = labelled(page, 'Code');
      expect(await field.getAttribute('autocomplete')).toBe('one-time-code');
      expect(await field.getAttribute('inputmode')).toBe('numeric');
      expect(await page.getByLabel(TRUST_BOX).isChecked()).toBe(false);
      await check(page, 'Code, page sans JavaScript');
      await screenshot(page, 'second-factor-no-js');

      const code = await mailedCode(user.email, since);
      const refused = await (async () => {
        await field.fill(wrongCode(code));
        return clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      })();
      expect(refused?.status()).toBe(400);
      expect(await page.locator('dialog').count()).toBe(0);
      expect(await field.getAttribute('aria-invalid')).toBe('true');
      expect(await description(field)).toContain('« Code » est incorrect. Il vous reste 4 essai(s).');
      expect(await page.getByRole('alert').getByRole('link').textContent()).toContain('Il vous reste 4 essai(s)');
      await check(page, 'Code, code erroné, sans JavaScript');

      expect(await enterCode(page, `${code.slice(0, 3)} ${code.slice(3)}`)).toBe('/premiere-connexion');
      expect(await heading(page)).toBe('Première connexion');
      await labelled(page, 'Nouveau mot de passe').fill(STRONG_PASSWORD);
      await labelled(page, 'Confirmation du nouveau mot de passe').fill(STRONG_PASSWORD);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      await clickAndWait(page, page.getByRole('main').getByRole('link', { name: 'Mon compte' }));
      expect(new URL(page.url()).pathname).toBe('/compte');
      await signOut(page);

      // Signed in again with the definitive password: the code page, then Mon compte.
      const again = await mark();
      expect(await passwordStep(page, user.login)).toBe('/verification');
      expect(await enterCode(page, await mailedCode(user.email, again))).toBe('/compte');
      expect(await heading(page)).toBe('Mon compte');
      await check(page, 'Mon compte, sans JavaScript');
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('with a verified backup phone: the choice « E-mail » / « SMS », the code by SMS', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const user = await admin('adm.sms');
    await portal.ctx.db.updateTable('users').set({ backup_phone: PHONE, backup_phone_verified_at: portal.clock.now() })
      .where('id', '=', user.userId).execute();
    const page = await newPage(browser);
    try {
      expect(await passwordStep(page, user.login)).toBe('/verification/choix');
      expect(await heading(page)).toBe(TITLE);
      const choice = page.getByRole('group', { name: 'Comment souhaitez-vous recevoir votre code ?' });
      expect(await choice.getByRole('radio').count()).toBe(2);
      expect(await choice.getByLabel('E-mail').isChecked()).toBe(true);
      expect(await choice.getByText(maskEmail(user.email)).isVisible()).toBe(true);
      expect(await choice.getByText(maskPhone(PHONE)).isVisible()).toBe(true);
      // The choice page is a page, not a dialog; nothing has been sent yet.
      expect(await page.locator('dialog').count()).toBe(0);
      await check(page, 'Choix de la méthode');
      await expectReflow(page, 'Choix de la méthode');
      await screenshot(page, 'second-factor-choice');

      await choice.getByLabel('SMS').check();
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(new URL(page.url()).pathname).toBe('/verification/choix');
      const dialog = codeDialog(page);
      expect(await isModal(dialog)).toBe(true);
      expect(await description(dialog)).toBe(`Votre code vous a été transmis par SMS : 'SMS : ${maskPhone(PHONE)}'.`);
      expect(await dialog.getByRole('link', { name: 'Choisir une autre méthode' }).isVisible()).toBe(true);
      expect(await focusedId(page)).toBe('code');
      await check(page, 'Code par SMS, dialogue');
      await screenshot(page, 'second-factor-dialog-sms');

      // No SESAME_SMS_URL: the SMS lands in the development mailbox.
      await portal.deliver();
      const sms = await portal.ctx.db.selectFrom('dev_mailbox').select(['body_text', 'sender'])
        .where('recipient', '=', PHONE).orderBy('id', 'desc').executeTakeFirstOrThrow();
      expect(sms.sender).toBe('SMS');
      const code = /\b(\d{6})\b/.exec(sms.body_text)?.[1];
      expect(code, sms.body_text).toBeDefined();
      expect(await enterCode(page, code!)).toBe('/compte');
      expect(await heading(page)).toBe('Mon compte');
      expect(await page.getByRole('region', { name: 'Sécurité du compte' }).textContent()).toContain(maskPhone(PHONE));
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('trusted browser: kept in its context only, cancelled by another professional, expires after 24 h', { timeout: JOURNEY_TIMEOUT_MS * 2 }, async () => {
    const a = await admin('adm.confiance.a', 'Alice Durand');
    const b = await admin('adm.confiance.b', 'Bruno Petit');
    const one = await newPage(browser);
    const two = await newPage(browser);
    try {
      // Context 1: A ticks « Enregistrer la double authentification pendant 24 heures ».
      let since = await mark();
      expect(await passwordStep(one, a.login)).toBe('/verification');
      expect(await one.getByLabel(TRUST_BOX).isChecked()).toBe(false);
      expect(await enterCode(one, await mailedCode(a.email, since), { trust: true })).toBe('/compte');
      expect((await one.context().cookies()).find((c) => c.name === '__Host-sesame-confiance'))
        .toMatchObject({ secure: true, httpOnly: true, path: '/', sameSite: 'Lax' });
      expect(await trustedRows(one).count()).toBe(1);
      expect(await trustedRows(one).first().textContent()).toContain('Chrome sur Linux');
      await check(one, 'Mon compte, un navigateur de confiance');
      await signOut(one);
      // Same context, same professional: no code.
      expect(await passwordStep(one, a.login)).toBe('/compte');
      await signOut(one);

      // Context 2, another browser: A is asked for the code; it gives up with « Annuler ».
      expect(await passwordStep(two, a.login)).toBe('/verification');
      expect(await isModal(codeDialog(two))).toBe(true);
      await clickAndWait(two, two.getByRole('button', { name: 'Annuler et revenir à la connexion' }));
      expect(new URL(two.url()).pathname).toBe('/connexion');

      // Context 1: B (another professional) signs in and is asked; that ends A's trust there.
      since = await mark();
      expect(await passwordStep(one, b.login)).toBe('/verification');
      expect((await one.context().cookies()).map((c) => c.name)).not.toContain('__Host-sesame-confiance');
      expect(await enterCode(one, await mailedCode(b.email, since))).toBe('/compte');
      expect(await one.getByRole('region', { name: 'Ma fiche' }).textContent()).toContain('Bruno Petit');
      await signOut(one);
      since = await mark();
      expect(await passwordStep(one, a.login)).toBe('/verification');
      expect(await enterCode(one, await mailedCode(a.email, since), { trust: true })).toBe('/compte');
      await signOut(one);
      expect(await passwordStep(one, a.login)).toBe('/compte');
      await signOut(one);

      // 24 h and a second later, the trust has expired.
      portal.clock.advance(24 * 3_600_000 + 1000);
      since = await mark();
      expect(await passwordStep(one, a.login)).toBe('/verification');
      expect(await enterCode(one, await mailedCode(a.email, since))).toBe('/compte');
      expect(await one.getByRole('region', { name: 'Sécurité du compte' }).textContent()).toContain('Aucun navigateur n’est enregistré pour la double authentification.');
      expect(pageProblems(one)).toEqual([]);
      expect(pageProblems(two)).toEqual([]);
    } finally {
      await one.context().close();
      await two.context().close();
    }
  });

  it('trusted browser: ended by a password change and by « Révoquer les navigateurs de confiance »', { timeout: JOURNEY_TIMEOUT_MS * 2 }, async () => {
    const a = await admin('adm.revocation');
    const page = await newPage(browser);
    const trustHere = async (password: string) => {
      const since = await mark();
      expect(await passwordStep(page, a.login, password)).toBe('/verification');
      expect(await enterCode(page, await mailedCode(a.email, since), { trust: true })).toBe('/compte');
      expect(await trustedRows(page).count()).toBe(1);
    };
    try {
      await trustHere(STRONG_PASSWORD);
      // Password changed in Mon compte: the trust ends (the list is empty, the code is asked again).
      await labelled(page, 'Ancien mot de passe').fill(STRONG_PASSWORD);
      await labelled(page, 'Nouveau mot de passe').fill(NEW_PASSWORD);
      await labelled(page, 'Confirmation du nouveau mot de passe').fill(NEW_PASSWORD);
      await clickAndWait(page, page.getByRole('button', { name: 'Valider' }));
      expect(new URL(page.url()).pathname).toBe('/compte');
      expect(await trustedRows(page).count()).toBe(0);
      await signOut(page);
      await trustHere(NEW_PASSWORD);

      // « Révoquer les navigateurs de confiance », after the list showed this browser.
      const security = page.getByRole('region', { name: 'Sécurité du compte' });
      await check(page, 'Mon compte, avant la révocation');
      await clickAndWait(page, security.getByRole('button', { name: 'Révoquer les navigateurs de confiance' }));
      expect(new URL(page.url()).hash).toBe('#securite');
      expect((await page.getByRole('status').allTextContents()).join(' ')).toContain('Vos navigateurs de confiance ont été révoqués');
      expect(await trustedRows(page).count()).toBe(0);
      expect(await security.getByRole('button', { name: 'Révoquer les navigateurs de confiance' }).count()).toBe(0);
      await check(page, 'Mon compte, navigateurs révoqués');
      await signOut(page);
      expect(await passwordStep(page, a.login, NEW_PASSWORD)).toBe('/verification');
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });

  it('Mon compte, security section: authenticator app, recovery codes, backup phone form', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const user = await admin('adm.securite');
    const page = await newPage(browser);
    try {
      const since = await mark();
      expect(await passwordStep(page, user.login)).toBe('/verification');
      expect(await enterCode(page, await mailedCode(user.email, since), { trust: true })).toBe('/compte');
      const security = page.getByRole('region', { name: 'Sécurité du compte' });
      for (const title of ['Téléphone de secours', 'Application d’authentification', 'Codes de secours', 'Clés d’accès', 'Navigateurs de confiance']) {
        expect(await security.getByRole('heading', { level: 3, name: title }).count(), title).toBe(1);
      }
      await check(page, 'Mon compte, sécurité');
      if (process.env.SESAME_SCREENSHOTS) await security.screenshot({ path: `${process.env.SESAME_SCREENSHOTS.replace(/\/$/, '')}/account-security.png` });

      await clickAndWait(page, security.getByRole('link', { name: 'Ajouter une application d’authentification' }));
      expect(new URL(page.url()).pathname).toBe('/compte/authentificateur');
      expect(await heading(page)).toBe('Application d’authentification');
      expect(await page.getByRole('img').first().getAttribute('alt')).toBeTruthy();
      await check(page, 'Application d’authentification');
      await screenshot(page, 'account-totp');
      await clickAndWait(page, page.getByRole('link', { name: 'Retour à « Mon compte »' }));

      await clickAndWait(page, security.getByRole('link', { name: 'Générer des codes de secours' }));
      expect(new URL(page.url()).pathname).toBe('/compte/codes-de-secours');
      expect(await heading(page)).toBe('Codes de secours');
      await check(page, 'Codes de secours');
      await screenshot(page, 'account-recovery-codes');
      await clickAndWait(page, page.getByRole('link', { name: 'Retour à « Mon compte »' }));

      await clickAndWait(page, security.getByRole('link', { name: 'Renseigner ou modifier le téléphone de secours' }));
      expect(new URL(page.url()).pathname).toBe('/compte/fiche');
      expect(await heading(page)).toBe('Modifier ma fiche');
      expect(await labelled(page, 'Téléphone de secours').getAttribute('type')).toBe('tel');
      await check(page, 'Modifier ma fiche (téléphone de secours)');
      await screenshot(page, 'account-profile');
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });
});
