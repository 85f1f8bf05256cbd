import { Writable } from 'node:stream';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createContext, type Context } from '../../src/context.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { createAccount } from '../../src/flows/accounts.ts';
import { identifierMail, passwordChangedMail, temporaryPasswordMail, type Branding } from '../../src/notify/mails.ts';
import { enqueueMail, LEASE_MS, OutboxWorker, retryDelayMs } from '../../src/notify/outbox.ts';
import { renderMail } from '../../src/notify/render.ts';
import { smtpTransport } from '../../src/notify/transport.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { buildApp } from '../../src/web/app.ts';
import { WebClient } from '../support/http.ts';
import { ENGINES, STRONG_PASSWORD, TEST_HASH_PARAMS, type Engine } from '../support/portal.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { startSmtpSink, type Mail, type SmtpSink } from '../support/smtp.ts';
import {
  PORTAL_NAME,
  PORTAL_START_TIMEOUT,
  SESSION_COOKIE,
  SUPPORT_EMAIL,
  SUPPORT_PHONE,
  forgotPassword,
  resetLinkOf,
  signIn,
  signedIn,
} from './helpers.ts';

const SECOND = 1000;

/**
 * The same portal as test/support/portal.ts (real HTTP, real database, SMTP sink, manual clock), except
 * that every log line, at trace level and without redaction, is kept for the test to read.
 */
async function startLoggedPortal(engine: Engine) {
  const smtp = await startSmtpSink();
  const database = engine === 'postgres' ? await createTestDatabase(inject('pgAdminUrl')) : undefined;
  const config = loadConfig({
    PORT: '0',
    SESAME_SMTP_URL: smtp.url,
    SESAME_PORTAL_NAME: PORTAL_NAME,
    SESAME_SUPPORT_EMAIL: SUPPORT_EMAIL,
    SESAME_SUPPORT_PHONE: SUPPORT_PHONE,
    SESAME_PUBLIC_URL: 'https://portail.test.example',
    SESAME_CAPTCHA_DIFFICULTY: '1000',
    ...(database ? { DATABASE_URL: database.url } : { SESAME_DATA_DIR: 'memory://' }),
  });
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const clock = new ManualClock();
  const ctx = await createContext(config, { clock, hashParams: TEST_HASH_PARAMS, log: pino({ level: 'trace' }, sink) });
  const app = await buildApp(ctx);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    ctx,
    clock,
    smtp,
    logs: () => lines.join(''),
    client: () => new WebClient(url),
    deliver: () => ctx.outbox.deliverDue(),
    async mail(predicate: (m: Mail) => boolean): Promise<Mail> {
      await ctx.outbox.deliverDue();
      return smtp.waitFor(predicate);
    },
    async close() {
      await app.close();
      await ctx.close();
      await smtp.close();
      await database?.drop();
    },
  };
}

type LoggedPortal = Awaited<ReturnType<typeof startLoggedPortal>>;

function temporaryPasswordIn(mail: Mail): string {
  const found = /utilisez le mot de passe provisoire suivant :\n\nMot de passe provisoire : (\S+)\n/.exec(mail.text)?.[1];
  if (!found) throw new Error(`no temporary password in:\n${mail.text}`);
  return found;
}

async function outboxRows(ctx: Context, recipient: string) {
  return ctx.db.selectFrom('outbox').selectAll().where('recipient', '=', recipient).orderBy('id').execute();
}

describe('mail wording and rendering (pure)', () => {
  const brand: Branding = { portalName: 'Portail <Santé>', supportEmail: 'aide@sante.example', supportPhone: '', publicUrl: new URL('https://sante.example') };

  it('escapes every value in the HTML part, keeps the text part plain', () => {
    const mail = renderMail(identifierMail(brand, '<script>alert(1)</script> Jo', 'jo', 'created'), brand);
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Jo');
    expect(mail.html).toContain('Portail &lt;Santé&gt;');
    expect(mail.text).toContain('Bonjour <script>alert(1)</script> Jo,');
    // Links are absolute, on the public URL.
    expect(mail.text).toContain('Se connecter : https://sante.example/connexion');
  });

  it('names the support by e-mail when no phone is set', () => {
    const text = renderMail(passwordChangedMail(brand), brand).text;
    expect(text).toContain("Votre changement de mot de passe a bien été pris en compte. Si vous n'avez pas effectué ce changement, merci de contacter le support technique de Portail <Santé> à l'adresse aide@sante.example.");
    expect(text).toContain('Mail : aide@sante.example');
    expect(text).not.toContain('Tél');
  });

  it('words the validity of a temporary password from the setting', () => {
    const text = renderMail(temporaryPasswordMail(brand, 'Jo', 'Xy7#abcdEFGH2345', 3 * 86_400_000, 'created'), brand).text;
    expect(text).toContain('Ce mot de passe provisoire est valable 3 jours.');
    expect(text).toContain('« Mon compte » => « Changer mon mot de passe »');
  });
});

describe.each(ENGINES)('Outbox and mails (%s)', (engine) => {
  let portal: LoggedPortal;
  beforeAll(async () => {
    portal = await startLoggedPortal(engine);
    // Failure injection at the database: a mail row whose recipient and subject match a row of
    // fail_mail makes its INSERT fail after the row is written (AFTER trigger), so the transaction aborts.
    const { db } = portal.ctx;
    await sql`create table fail_mail (recipient text not null, subject_like text not null)`.execute(db);
    await sql.raw(`create function fail_mail_insert() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from fail_mail f where f.recipient = NEW.recipient and NEW.subject like f.subject_like) then
          raise exception 'injected failure after the outbox insert';
        end if;
        return null;
      end $$`).execute(db);
    await sql`create trigger fail_mail_after_insert after insert on outbox for each row execute function fail_mail_insert()`.execute(db);
  }, PORTAL_START_TIMEOUT);
  afterAll(async () => {
    await portal?.close();
  });

  async function newAccount(login: string) {
    const email = `${login}@hopital.test.example`;
    const created = await createAccount(portal.ctx, { login, email, name: 'Camille Martin' }, CLI_ORIGIN);
    if (!created.ok) throw new Error(JSON.stringify(created.errors));
    return { login, email, userId: created.userId };
  }

  it('an account and its two mails are one transaction: a failure on the second mail leaves neither account nor mail', async () => {
    const email = 'ob-create@hopital.test.example';
    await sql`insert into fail_mail values (${email}, '%mot de passe provisoire')`.execute(portal.ctx.db);
    await expect(createAccount(portal.ctx, { login: 'ob-create', email, name: 'Camille Martin' }, CLI_ORIGIN)).rejects.toThrow(/injected failure/);
    expect(await portal.ctx.db.selectFrom('users').select('id').where('login', '=', 'ob-create').execute()).toEqual([]);
    expect(await outboxRows(portal.ctx, email)).toEqual([]);
    expect(await portal.ctx.db.selectFrom('audit_events').select('id').where('type', '=', 'account.created').execute()).toEqual([]);

    await sql`delete from fail_mail`.execute(portal.ctx.db);
    const retried = await createAccount(portal.ctx, { login: 'ob-create', email, name: 'Camille Martin' }, CLI_ORIGIN);
    expect(retried.ok).toBe(true);
    expect(await outboxRows(portal.ctx, email)).toHaveLength(2);
  });

  it('a password change and its confirmation mail are one transaction: a DB error leaves neither', async () => {
    const { login, email, userId } = await newAccount('ob-change');
    const temporary = temporaryPasswordIn(await portal.mail((m) => m.to.includes(email) && /provisoire/.test(m.subject)));
    const client = portal.client();
    await signIn(client, login, temporary);
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    await portal.deliver();
    const userBefore = await portal.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    const mailsBefore = (await outboxRows(portal.ctx, email)).length;
    const cookie = client.cookie(SESSION_COOKIE);

    await sql`insert into fail_mail values (${email}, '%: changement de mot de passe')`.execute(portal.ctx.db);
    const failed = await client.submit('/compte', { ancien_mot_de_passe: STRONG_PASSWORD, nouveau_mot_de_passe: 'Transaction#Avortee-1', confirmation: 'Transaction#Avortee-1', deconnecter_autres: '1' });
    expect(failed.status).toBe(500);
    expect(failed.text).toContain('Une erreur est survenue.');

    const userAfter = await portal.ctx.db.selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    expect(userAfter.password_hash).toBe(userBefore.password_hash);
    expect(userAfter.password_changed_at).toEqual(userBefore.password_changed_at);
    expect(await outboxRows(portal.ctx, email)).toHaveLength(mailsBefore);
    const changes = await portal.ctx.db.selectFrom('audit_events').select('details').where('user_id', '=', userId).where('type', '=', 'password.changed').execute();
    expect(changes.map((c) => c.details)).toEqual([{ via: 'first-connection' }]);
    // The session was not swapped either.
    expect(client.cookie(SESSION_COOKIE)).toBe(cookie);
    expect(await signedIn(client)).toBe(true);
    expect((await signIn(portal.client(), login, 'Transaction#Avortee-1')).status).toBe(401);

    await sql`delete from fail_mail`.execute(portal.ctx.db);
    const done = await client.submit('/compte', { ancien_mot_de_passe: STRONG_PASSWORD, nouveau_mot_de_passe: 'Transaction#Avortee-1', confirmation: 'Transaction#Avortee-1' });
    expect(done.status).toBe(303);
    expect(await outboxRows(portal.ctx, email)).toHaveLength(mailsBefore + 1);
  });

  it('SMTP down: nothing is lost; retries back off; a delivered mail has its body erased', async () => {
    await portal.deliver();
    portal.smtp.failNext(2);
    const { email } = await newAccount('ob-smtp');
    const queuedAt = portal.clock.now().getTime();

    expect(await portal.deliver()).toEqual({ sent: 0, failed: 2 });
    let rows = await outboxRows(portal.ctx, email);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.sent_at).toBeNull();
      expect(row.attempts).toBe(1);
      expect(row.last_error).toMatch(/451/);
      expect(row.next_attempt_at.getTime()).toBe(queuedAt + retryDelayMs(1));
      expect(row.body_text).toContain('Bonjour Camille Martin,');
      expect(row.body_html).toContain('<html lang="fr">');
    }
    expect(portal.smtp.messages.filter((m) => m.to.includes(email))).toEqual([]);

    // Not due yet: nothing is attempted.
    expect(await portal.deliver()).toEqual({ sent: 0, failed: 0 });
    portal.clock.advance(retryDelayMs(1) - SECOND);
    expect(await portal.deliver()).toEqual({ sent: 0, failed: 0 });

    // Due: the first fails again and backs off further, the second leaves.
    portal.clock.advance(SECOND);
    portal.smtp.failNext(1);
    expect(await portal.deliver()).toEqual({ sent: 1, failed: 1 });
    rows = await outboxRows(portal.ctx, email);
    expect(rows.map((r) => r.attempts)).toEqual([2, 2]);
    expect(rows[0]!.sent_at).toBeNull();
    expect(rows[0]!.next_attempt_at.getTime()).toBe(portal.clock.now().getTime() + retryDelayMs(2));
    expect(retryDelayMs(2)).toBeGreaterThan(retryDelayMs(1));
    expect(rows[1]!.sent_at).not.toBeNull();

    portal.clock.advance(retryDelayMs(2));
    expect(await portal.deliver()).toEqual({ sent: 1, failed: 0 });
    rows = await outboxRows(portal.ctx, email);
    for (const row of rows) {
      expect(row.sent_at).not.toBeNull();
      expect([row.body_text, row.body_html, row.last_error]).toEqual([null, null, null]);
    }
    const received = portal.smtp.messages.filter((m) => m.to.includes(email));
    expect(received.map((m) => m.subject).sort()).toEqual([`${PORTAL_NAME} : votre identifiant de connexion`, `${PORTAL_NAME} : votre mot de passe provisoire`]);
    // What arrived late is intact: the temporary password works.
    const client = portal.client();
    expect((await signIn(client, 'ob-smtp', temporaryPasswordIn(received.find((m) => /provisoire/.test(m.subject))!))).location).toBe('/premiere-connexion');
  });

  it('two workers delivering at once never send a mail twice', async () => {
    await portal.deliver();
    const { db } = portal.ctx;
    const brand = portal.ctx.brand;
    const recipients = Array.from({ length: 25 }, (_, i) => `ob-bulk-${i}@hopital.test.example`);
    const now = portal.clock.now();
    await db.transaction().execute(async (trx) => {
      for (const to of recipients) await enqueueMail(trx, to, renderMail(passwordChangedMail(brand), brand), now);
    });
    const transport = smtpTransport(portal.smtp.url);
    const other = new OutboxWorker(db, transport, portal.clock, portal.ctx.config.mailFrom, pino({ level: 'silent' }));
    try {
      const reports = await Promise.all([portal.deliver(), other.deliverDue(), portal.deliver(), other.deliverDue()]);
      const sent = reports.reduce((n, r) => n + r.sent, 0);
      const failed = reports.reduce((n, r) => n + r.failed, 0);
      // The same worker's concurrent calls share one round: count each round once.
      expect(reports[0]).toBe(reports[2]);
      expect(reports[1]).toBe(reports[3]);
      expect(reports[0]!.sent + reports[1]!.sent).toBe(25);
      expect(failed).toBe(0);
      expect(sent).toBe(25 + reports[0]!.sent + reports[1]!.sent);
    } finally {
      await transport.close();
    }
    for (const to of recipients) {
      expect(portal.smtp.messages.filter((m) => m.to.includes(to))).toHaveLength(1);
    }
    expect(await portal.ctx.outbox.pending()).toBe(0);
    // Nothing left for a later round either.
    portal.clock.advance(LEASE_MS + SECOND);
    expect(await other.deliverDue()).toEqual({ sent: 0, failed: 0 });
  });

  it('no password, temporary password or reset token ever reaches a log line', async () => {
    await portal.deliver();
    const start = portal.logs().length;
    portal.smtp.failNext(1); // a failed delivery is logged too
    const { login, email } = await newAccount('ob-logs');
    await portal.deliver();
    portal.clock.advance(retryDelayMs(1));
    const temporary = temporaryPasswordIn(await portal.mail((m) => m.to.includes(email) && /provisoire/.test(m.subject)));

    const client = portal.client();
    expect((await signIn(client, login, 'Mauvais#Essai-2026')).status).toBe(401);
    expect((await signIn(client, login, temporary)).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    expect((await forgotPassword(portal.client(), login)).status).toBe(200);
    const link = resetLinkOf(await portal.mail((m) => m.to.includes(email) && /demande de changement/.test(m.subject)));
    const resetPassword = 'Journal#Propre-2026';
    expect((await client.submit(link.path, { nouveau_mot_de_passe: resetPassword, confirmation: `${resetPassword}!` })).status).toBe(400);
    expect((await client.submit(link.path, { nouveau_mot_de_passe: resetPassword, confirmation: resetPassword })).status).toBe(200);
    expect((await client.get(link.path)).status).toBe(410);
    await portal.deliver();

    const logs = portal.logs().slice(start);
    // The logs were written: requests (token masked in the path) and the failed delivery.
    expect(logs).toContain('"path":"/reinitialisation/[jeton]"');
    expect(logs).toContain('"path":"/premiere-connexion"');
    expect(logs).toContain('outbox: delivery failed');
    for (const secret of [temporary, STRONG_PASSWORD, resetPassword, 'Mauvais#Essai-2026', link.token]) {
      expect(logs.includes(secret), `a log line holds ${secret}`).toBe(false);
    }
  });
});
