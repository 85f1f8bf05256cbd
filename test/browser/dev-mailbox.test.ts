// The development mailbox (/dev/boite-mail) of a portal without SMTP, in real Chromium.
// startPortal always configures its SMTP sink, so this file builds its portal itself from
// createContext + buildApp, without SESAME_SMTP_URL (the mails then go to the dev_mailbox table).

import type { Browser } from 'playwright-core';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createContext, type Context } from '../../src/context.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { createAccount } from '../../src/flows/accounts.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { buildApp } from '../../src/web/app.ts';
import type { FastifyInstance } from 'fastify';
import { clickAndWait, describeBrowser, expectNoAxeViolations, heading, JOURNEY_TIMEOUT_MS, launchBrowser, START_TIMEOUT_MS, newPage, pageProblems } from '../support/browser.ts';
import { TEST_HASH_PARAMS } from '../support/portal.ts';

describeBrowser('browser: development mailbox (no SMTP configured)', () => {
  let ctx: Context;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    const start = async () => {
      const config = loadConfig({
        PORT: '0',
        SESAME_DATA_DIR: 'memory://',
        SESAME_PORTAL_NAME: 'Portail Test',
        SESAME_SUPPORT_EMAIL: 'support@test.example',
        SESAME_LOG_LEVEL: 'silent',
      });
      expect(config.smtpUrl).toBeUndefined();
      expect(config.devMailbox).toBe(true);
      ctx = await createContext(config, { clock: new ManualClock(), hashParams: TEST_HASH_PARAMS, log: pino({ level: 'silent' }) });
      app = await buildApp(ctx);
      await app.listen({ port: 0, host: '127.0.0.1' });
      const address = app.server.address();
      url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    };
    [, browser] = await Promise.all([start(), launchBrowser()]);
  }, START_TIMEOUT_MS);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await ctx?.close();
  });

  it('lists the mails the portal sent and shows one', { timeout: JOURNEY_TIMEOUT_MS }, async () => {
    const page = await newPage(browser);
    try {
      await page.goto(`${url}/dev/boite-mail`);
      expect(await heading(page)).toBe('Boîte mail de développement');
      expect(await page.getByRole('main').textContent()).toContain('Aucun mail pour l’instant.');
      await expectNoAxeViolations(page, 'Boîte mail de développement, vide');

      const created = await createAccount(ctx, { login: 'jdupont', email: 'jdupont@hopital.test.example', name: 'Jeanne Dupont', roles: [] }, CLI_ORIGIN);
      expect(created.ok).toBe(true);
      // Two mails (seed 001): the identifier, then the temporary password.
      expect((await ctx.outbox.deliverDue()).sent).toBe(2);

      await page.reload();
      const rows = page.getByRole('main').locator('tbody tr');
      expect(await rows.count()).toBe(2);
      for (const row of await rows.all()) expect(await row.textContent()).toContain('jdupont@hopital.test.example');
      await expectNoAxeViolations(page, 'Boîte mail de développement');

      const link = page.getByRole('main').getByRole('link', { name: /mot de passe provisoire/ });
      const shown = await clickAndWait(page, link);
      expect(shown?.headers()['content-security-policy']).toContain("default-src 'none'");
      expect(await page.locator('body').textContent()).toMatch(/Mot de passe provisoire : \S+/);
      expect(await page.locator('body').textContent()).toContain('Bonjour Jeanne Dupont,');
      // A mail is no web page: the page-structure best practices (main landmark, h1, regions) do not apply.
      await expectNoAxeViolations(page, 'Un mail de la boîte de développement', { disableRules: ['landmark-one-main', 'page-has-heading-one', 'region'] });

      await page.goBack();
      expect(await heading(page)).toBe('Boîte mail de développement');
      // The scan is real: an unlabelled field added to the page is reported.
      await page.evaluate(() => document.querySelector('main')?.append(document.createElement('input')));
      await expect(expectNoAxeViolations(page, 'avec un champ sans étiquette')).rejects.toThrow(/label/);
      expect(pageProblems(page)).toEqual([]);
    } finally {
      await page.context().close();
    }
  });
});
