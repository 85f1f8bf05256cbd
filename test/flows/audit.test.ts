// Audit log (`audit_events`): sign-in successes and failures with their reason, lockout, unlock, sessions
// ended, each with UTC time, user, IP and user agent; never a password; shown in « Mon compte ».
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unlockAccount } from '../../src/flows/accounts.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import { auditRows, endableSessionIds, MINUTE, signIn, signOut, START_TIMEOUT, userRow, WRONG_PASSWORD } from './auth-helpers.ts';

const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';

describe.each(ENGINES)('audit log (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine, { SESAME_IP_FAILURE_LIMIT: '100000' }); }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });

  it('records every sign-in success and failure, lockout, unlock and ended session, with time, user, IP and user agent', async () => {
    const threshold = portal.config.lockoutThreshold;
    const { login, email, userId } = await portal.activeUser('audit.suivi');
    const temporary = await portal.createUser('audit.provisoire');
    const disabled = await portal.activeUser('audit.desactive');
    await portal.ctx.db.updateTable('users').set({ disabled_at: portal.clock.now() }).where('id', '=', disabled.userId).execute();
    const client = () => portal.client({ userAgent: UA });
    const since = (await portal.ctx.db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('max')).executeTakeFirstOrThrow()).max;
    const newEvents = async () => (await portal.ctx.db.selectFrom('audit_events').selectAll()
      .where('id', '>', since!).orderBy('id').execute());

    portal.clock.advance(MINUTE);
    const t1 = portal.clock.now();
    expect((await signIn(client(), 'audit.inconnu', WRONG_PASSWORD)).status).toBe(401);
    expect((await signIn(client(), disabled.login, STRONG_PASSWORD)).status).toBe(401);
    const main = client();
    expect((await signIn(main, email, STRONG_PASSWORD)).location).toBe('/compte');
    portal.clock.advance(MINUTE);
    expect((await signOut(main)).location).toBe('/connexion?fin');
    portal.clock.advance(portal.config.tempPasswordTtlMs);
    expect((await signIn(client(), temporary.login, temporary.temporary)).status).toBe(401);
    const t2 = portal.clock.now();
    for (let i = 1; i <= threshold; i++) expect((await signIn(client(), login, `${WRONG_PASSWORD}${i}`)).status).toBe(401);
    expect((await signIn(client(), login, STRONG_PASSWORD)).status).toBe(401);
    portal.clock.advance(MINUTE);
    expect(await unlockAccount(portal.ctx, login, CLI_ORIGIN)).toBe('unlocked');
    const desk = client();
    expect((await signIn(desk, login, STRONG_PASSWORD)).location).toBe('/compte');
    const phone = client();
    expect((await signIn(phone, login, STRONG_PASSWORD)).location).toBe('/compte');
    const page = await desk.get('/compte');
    const [other] = endableSessionIds(page.text);
    expect((await desk.post(`/compte/sessions/${other}/fin`, { _csrf: desk.csrf(page.text) })).location).toBe('/compte?ok=session-fin');

    const events = await newEvents();
    // Sign-ins from new browsers are also announced ('login.new-browser'); new-browser.test.ts covers them.
    const summary = events.filter((e) => e.type !== 'login.new-browser').map((e) => [e.type, e.user_id, e.details.reason ?? e.details.via ?? null]);
    expect(summary).toEqual([
      ['login.failure', null, 'unknown'],
      ['login.failure', disabled.userId, 'disabled'],
      ['login.success', userId, null],
      ['session.ended', userId, 'logout'],
      ['login.failure', temporary.userId, 'temporary-password-expired'],
      ...Array.from({ length: threshold - 1 }, () => ['login.failure', userId, 'wrong-password']),
      ['account.locked', userId, null], // written with the failure that locks
      ['login.failure', userId, 'wrong-password'],
      ['login.failure', userId, 'locked'],
      ['account.unlocked', userId, 'cli'],
      ['login.success', userId, null],
      ['login.success', userId, null],
      ['session.ended', userId, 'ended-from-account'],
    ]);
    const unknown = events[0]!;
    expect(unknown.subject).toBe('audit.inconnu');
    expect(events.find((e) => e.type === 'account.locked')!.details).toEqual({ failures: threshold });
    for (const e of events) {
      const cli = e.type === 'account.unlocked';
      expect(e.ip, e.type).toBe(cli ? 'cli' : '127.0.0.1');
      expect(e.user_agent, e.type).toBe(cli ? 'sesame-cli' : UA);
      expect(e.at).toBeInstanceOf(Date);
    }
    // Times are the application clock's instants, stored as timestamptz (an absolute, UTC instant).
    expect(events[0]!.at.getTime()).toBe(t1.getTime());
    expect(events.find((e) => e.details.reason === 'temporary-password-expired')!.at.getTime()).toBe(t2.getTime());
    const column = await sql<{ data_type: string }>`select data_type from information_schema.columns where table_name = 'audit_events' and column_name = 'at'`.execute(portal.ctx.db);
    expect(column.rows[0]?.data_type).toBe('timestamp with time zone');
    const utc = await sql<{ text: string }>`select to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') as text from audit_events where id = ${unknown.id}`.execute(portal.ctx.db);
    expect(utc.rows[0]?.text).toBe(t1.toISOString().slice(0, 19));
  });

  it('never stores a typed password in the audit log, the outbox or the development mailbox, except in the intended mails', async () => {
    const threshold = portal.config.lockoutThreshold;
    const typed = [`Secret-Faux#${engine}-1`, `Secret-Faux#${engine}-2`, `${STRONG_PASSWORD}`, 'Secret é ünïcode ☃ 1A!'];
    const user = await portal.createUser('audit.secret');
    // First connection with the temporary password, then the chosen one.
    const browser = portal.client({ userAgent: UA });
    expect((await signIn(browser, user.login, user.temporary)).location).toBe('/premiere-connexion');
    const chosen = `Choisi-${engine}#Lilas-8472`;
    expect((await browser.submit('/premiere-connexion', { nouveau_mot_de_passe: chosen, confirmation: chosen })).status).toBe(200);
    typed.push(chosen);
    for (let i = 0; i < threshold; i++) await signIn(portal.client(), user.login, typed[i % 4]!); // all wrong for this account
    await signIn(portal.client(), user.email, chosen); // locked by now: refused, still not stored
    await signIn(portal.client(), 'audit.personne', typed[3]!);
    expect((await userRow(portal, user.login)).locked_at).not.toBeNull();

    const scan = async () => {
      const audit = await sql<{ row: string }>`select a::text as row from audit_events a`.execute(portal.ctx.db);
      const outbox = await sql<{ row: string; subject: string }>`select o::text as row, subject from outbox o`.execute(portal.ctx.db);
      const mailbox = await sql<{ row: string; subject: string }>`select d::text as row, subject from dev_mailbox d`.execute(portal.ctx.db);
      return { audit: audit.rows, mails: [...outbox.rows, ...mailbox.rows] };
    };
    const check = async () => {
      const { audit, mails } = await scan();
      expect(audit.length).toBeGreaterThan(threshold);
      for (const secret of [...typed, user.temporary]) {
        for (const row of audit) expect(row.row, `audit row contains « ${secret} »`).not.toContain(secret);
      }
      for (const secret of typed) {
        for (const mail of mails) expect(mail.row, `mail « ${mail.subject} » contains « ${secret} »`).not.toContain(secret);
        for (const mail of portal.smtp.messages) expect(mail.raw, `sent mail « ${mail.subject} »`).not.toContain(secret);
      }
      // The temporary password is only in its own mail (the outbox erases bodies once delivered).
      for (const mail of [...mails, ...portal.smtp.messages.map((m) => ({ row: m.raw, subject: m.subject }))]) {
        if (!/mot de passe provisoire/.test(mail.subject)) expect(mail.row, mail.subject).not.toContain(user.temporary);
      }
      return mails;
    };
    // Before delivery the outbox still holds the bodies: checked there, then after delivery in what was sent.
    const queued = await check();
    expect(queued.some((m) => /verrouillé/.test(m.subject))).toBe(true);
    await portal.mail(user.email, /verrouillé/);
    await check();
  });

  it('shows the recent activity in « Mon compte » with French labels', async () => {
    const { login } = await portal.activeUser('audit.activite');
    await signIn(portal.client({ userAgent: UA }), login, WRONG_PASSWORD);
    const browser = portal.client({ userAgent: UA });
    expect((await signIn(browser, login, STRONG_PASSWORD)).location).toBe('/compte');
    const page = await browser.get('/compte');
    const section = /<section aria-labelledby="activite">([\s\S]*?)<\/section>/.exec(page.text)?.[1] ?? '';
    expect(section).toContain('Activité récente');
    const rows = [...section.matchAll(/<tr><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><\/tr>/g)]
      .map((m) => ({ at: m[1], what: m[2], ip: m[3], device: m[4] }))
      .filter((r) => r.what !== 'Connexion depuis un nouveau navigateur'); // covered by new-browser.test.ts
    const paris = new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'short', timeZone: 'Europe/Paris' }).format(portal.clock.now());
    // Newest first.
    expect(rows[0]).toEqual({ at: paris, what: 'Connexion réussie', ip: '127.0.0.1', device: 'Safari sur macOS' });
    expect(rows[1]).toEqual({ at: paris, what: 'Échec de connexion', ip: '127.0.0.1', device: 'Safari sur macOS' });
    const labels = rows.map((r) => r.what);
    expect(labels).toContain('Mot de passe changé');
    expect(labels).toContain('Compte créé');
    expect(labels.every((l) => !/^[a-z]+\.[a-z.]+$/.test(l!))).toBe(true); // no raw event type
  });
});
