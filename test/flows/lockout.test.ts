// Lockout after SESAME_LOCKOUT_THRESHOLD consecutive failures: the right password is refused like any
// other, a mail points to « Mot de passe oublié », `sesame user unlock` lifts it, and parallel guesses
// never get more than the threshold.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { unlockAccount } from '../../src/flows/accounts.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import {
  auditRows, comparableLoginPage, csrfFrom, GENERIC_FAILURE, sessionsOf, signIn, spyVerify, userRow, WRONG_PASSWORD,
  START_TIMEOUT,
} from './auth-helpers.ts';

describe.each(ENGINES)('lockout (%s)', (engine) => {
  let portal: Portal;
  let verify: ReturnType<typeof spyVerify>;
  beforeAll(async () => { portal = await startPortal(engine, { SESAME_IP_FAILURE_LIMIT: '100000' }); }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });
  afterEach(() => { verify?.restore(); });

  const lockMails = async (email: string) => portal.ctx.db.selectFrom('outbox').select(['subject', 'body_text'])
    .where('recipient', '=', email).where('subject', 'like', '%verrouillé%').execute();

  it('locks at the threshold, then refuses the right password with the generic answer, mails the user, and unlocks', async () => {
    const threshold = portal.config.lockoutThreshold;
    expect(threshold).toBe(5); // SESAME_LOCKOUT_THRESHOLD's default
    const { login, email, userId } = await portal.activeUser('verrou.simple');
    const hash = (await userRow(portal, login)).password_hash!;

    let wrongPage = '';
    for (let i = 1; i <= threshold; i++) {
      expect((await userRow(portal, login)).locked_at, `before failure ${i}`).toBeNull();
      const res = await signIn(portal.client(), login, `${WRONG_PASSWORD}-${i}`);
      expect(res.status).toBe(401);
      wrongPage = comparableLoginPage(res.text);
      expect((await userRow(portal, login)).failed_count).toBe(i);
    }
    const locked = await userRow(portal, login);
    expect(locked.locked_at).toEqual(portal.clock.now());
    expect(await lockMails(email)).toHaveLength(1);

    verify = spyVerify(portal);
    const client = portal.client();
    const refused = await signIn(client, login, STRONG_PASSWORD);
    expect(refused.status).toBe(401);
    expect(refused.text).toContain(GENERIC_FAILURE);
    expect(comparableLoginPage(refused.text)).toBe(wrongPage);
    expect(verify.total()).toBe(1); // the same work as any failure…
    expect(verify.against(hash)).toBe(0); // …but no guess is checked against the real hash any more
    expect((await client.get('/compte')).location).toBe('/connexion');
    expect(await sessionsOf(portal, userId)).toHaveLength(1); // activeUser's own session only
    verify.restore();

    const mail = await portal.mail(email, /verrouillé/);
    expect(mail.subject).toBe('Portail Test : votre compte est verrouillé');
    expect(mail.text).toContain(`Votre compte a été verrouillé après ${threshold} tentatives de connexion sans succès.`);
    expect(mail.text).toContain('« Mot de passe oublié »');
    expect(mail.text).toContain('https://portail.test.example/mot-de-passe-oublie');
    expect(mail.html).toContain('href="https://portail.test.example/mot-de-passe-oublie"');

    // The failure after the lock does not send a second mail.
    expect(await lockMails(email)).toHaveLength(1);

    // `sesame user unlock`
    expect(await unlockAccount(portal.ctx, login, CLI_ORIGIN)).toBe('unlocked');
    const unlocked = await userRow(portal, login);
    expect(unlocked.locked_at).toBeNull();
    expect(unlocked.failed_count).toBe(0);
    expect((await auditRows(portal, userId)).filter((e) => e.type === 'account.unlocked')).toHaveLength(1);
    expect(await unlockAccount(portal.ctx, login, CLI_ORIGIN)).toBe('not-locked');
    expect(await unlockAccount(portal.ctx, 'personne.inconnue', CLI_ORIGIN)).toBe('unknown');

    const back = portal.client();
    expect((await signIn(back, login, STRONG_PASSWORD)).location).toBe('/compte');
    expect((await back.get('/compte')).status).toBe(200);
  });

  it('sends no lock mail and keeps the account usable below the threshold', async () => {
    const threshold = portal.config.lockoutThreshold;
    const { login, email } = await portal.activeUser('verrou.presque');
    for (let i = 1; i < threshold; i++) expect((await signIn(portal.client(), login, WRONG_PASSWORD)).status).toBe(401);
    expect(await lockMails(email)).toHaveLength(0);
    expect((await userRow(portal, login)).locked_at).toBeNull();
    expect((await signIn(portal.client(), login, STRONG_PASSWORD)).location).toBe('/compte');
  });

  it('lets 20 parallel wrong guesses check exactly `threshold` of them, and refuses the right password sent among 20 more', async () => {
    const threshold = portal.config.lockoutThreshold;
    const { login, email, userId } = await portal.activeUser('verrou.parallele');
    const hash = (await userRow(portal, login)).password_hash!;
    const client = portal.client();
    const token = await csrfFrom(client, '/connexion');
    const attempt = (password: string) => client.post('/connexion', { _csrf: token, identifiant: login, mot_de_passe: password });

    verify = spyVerify(portal);
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => attempt(`${WRONG_PASSWORD}-${i}`)));
    expect(first.map((r) => r.status)).toEqual(Array(20).fill(401));
    for (const res of first) expect(res.text).toContain(GENERIC_FAILURE);
    expect(verify.against(hash)).toBe(threshold);
    expect(verify.total()).toBe(20); // the others did the same (dummy) work
    const row = await userRow(portal, login);
    expect(row.failed_count).toBe(threshold);
    expect(row.locked_at).not.toBeNull();
    expect(await lockMails(email)).toHaveLength(1);
    expect((await auditRows(portal, userId)).filter((e) => e.type === 'account.locked')).toHaveLength(1);

    verify.reset();
    const passwords = Array.from({ length: 21 }, (_, i) => (i === 10 ? STRONG_PASSWORD : `${WRONG_PASSWORD}+${i}`));
    const second = await Promise.all(passwords.map((p) => attempt(p)));
    expect(second.map((r) => r.status)).toEqual(Array(21).fill(401));
    expect(second.every((r) => r.location === null && r.text.includes(GENERIC_FAILURE))).toBe(true);
    expect(verify.against(hash)).toBe(0);
    expect(verify.total()).toBe(21);
    expect(await sessionsOf(portal, userId)).toHaveLength(1); // activeUser's own session only
    expect((await userRow(portal, login)).failed_count).toBe(threshold);
    expect((await client.get('/compte')).location).toBe('/connexion');
  });
});
