import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskPhone } from '../../src/domain/masking.ts';
import { decodeEntities, type WebClient } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';

/**
 * « Téléphone de secours » in « Mon compte » (seeds 003 and 004), SMS through the development mailbox
 * (no SESAME_SMS_URL): the record's edit form, the confirmation by the code received by SMS, then the
 * choice « E-mail » / « SMS » at sign-in. The real HTTP gateway is in sms.test.ts.
 */
const CONFIRM_SMS = /^(\d{6}) est le code de confirmation de votre téléphone de secours/;
/** audit_events.details is jsonb: an object, or its text on some drivers. */
const details = (d: unknown) => (typeof d === 'string' ? JSON.parse(d) : d) as Record<string, unknown>;
const SIGN_IN_SMS = /^(\d{6}) est votre code de connexion/;
const CODE_IN_MAIL = /Code : (\d{6})/;

describe.each(ENGINES)('backup phone on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  /** The SMS sent to a number, newest first, as the development mailbox received them. */
  async function smsTo(to: string): Promise<string[]> {
    await portal.deliver();
    const rows = await portal.ctx.db.selectFrom('dev_mailbox').select('body_text')
      .where('recipient', '=', to).where('sender', '=', 'SMS').orderBy('id', 'desc').execute();
    return rows.map((r) => r.body_text);
  }

  async function confirmationCode(to: string): Promise<string> {
    const [last] = await smsTo(to);
    const code = CONFIRM_SMS.exec(last ?? '')?.[1];
    if (!code) throw new Error(`no confirmation SMS to ${to}: ${last}`);
    return code;
  }

  /** An admin through first connection (an e-mailed code included): a client with a full session. */
  async function admin(login: string): Promise<{ client: WebClient; email: string; userId: string }> {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary })).location).toBe('/verification');
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    return { client, email: user.email, userId: user.userId };
  }

  const setPhone = (client: WebClient, telephone: string, password = STRONG_PASSWORD) =>
    client.submit('/compte/fiche', { telephone, mot_de_passe_actuel: password });

  /** Sets and confirms a number with the code received by SMS. */
  async function confirmedPhone(client: WebClient, telephone: string, e164: string): Promise<void> {
    expect((await setPhone(client, telephone)).location).toBe('/compte/telephone/confirmation');
    const done = await client.submit('/compte/telephone/confirmation', { code: await confirmationCode(e164) });
    expect(done.location).toBe('/compte?ok=telephone#securite');
  }

  const user = (id: string) => portal.ctx.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const events = (id: string) => portal.ctx.db.selectFrom('audit_events').select(['type', 'details']).where('user_id', '=', id).orderBy('id').execute();
  const trusts = async (id: string) => (await portal.ctx.db.selectFrom('trusted_browsers').select('id').where('user_id', '=', id).execute()).length;

  it('shows the record with a pen link to the edit form, whose « Téléphone de secours » is empty', async () => {
    const { client } = await portal.activeUser('fiche1');
    const account = await client.get('/compte');
    expect(account.status).toBe(200);
    const pen = /<a href="\/compte\/fiche" class="edit-link"><svg aria-hidden="true"[^>]*>[\s\S]*?<\/svg>([^<]+)<\/a>/.exec(account.text);
    expect(pen?.[1]).toBe('Modifier ma fiche');
    expect(account.text).toContain('Téléphone de secours');
    expect(account.text).toContain('Numéro : Aucun');
    const form = await client.get('/compte/fiche');
    expect(form.status).toBe(200);
    expect(form.text).toMatch(/<label for="telephone">Téléphone de secours<\/label>/);
    expect(form.text).toMatch(/<input id="telephone" name="telephone" type="tel" autocomplete="tel"/);
    expect(form.text).toMatch(/<label for="mot_de_passe_actuel">Mot de passe actuel/);
    expect(form.text).toContain('>Mettre à jour</button>');
    expect(form.text).not.toContain('Supprimer le téléphone de secours');
    // Signed out: the form is not shown.
    expect((await portal.client().get('/compte/fiche')).location).toBe('/connexion');
  });

  it('normalises a French mobile number to E.164 and refuses a fixed line or garbage with a clear message', async () => {
    const { client, userId } = await portal.activeUser('norme1');
    for (const [input, message] of [
      ['01 23 45 67 89', '« Téléphone de secours » doit être un numéro de téléphone portable'],
      ['n’importe quoi', '« Téléphone de secours » n’est pas un numéro de téléphone valide'],
      ['06 12', '« Téléphone de secours » n’est pas un numéro de téléphone valide'],
    ] as const) {
      const refused = await setPhone(client, input);
      expect(refused.status).toBe(400);
      expect(decodeEntities(refused.text)).toContain(message);
      expect(refused.text).toContain('aria-invalid="true"');
    }
    // Nothing sent, nothing pending, and no password guess was spent on an invalid form.
    expect(await portal.ctx.db.selectFrom('phone_verifications').select('phone').where('user_id', '=', userId).executeTakeFirst()).toBeUndefined();
    expect((await user(userId)).failed_count).toBe(0);

    const sent = await setPhone(client, ' 06 12 34 56 78 ');
    expect(sent.status).toBe(303);
    expect(sent.location).toBe('/compte/telephone/confirmation');
    const pending = await portal.ctx.db.selectFrom('phone_verifications').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
    expect(pending.phone).toBe('+33612345678');
    const page = await client.follow(sent);
    expect(page.text).toContain(`Un code de confirmation a été envoyé par SMS au ${maskPhone('+33612345678')}`);
    expect(page.text).toContain('>Valider</button>');
    expect(page.text).toContain('>Renvoyer le code</button>');
    expect(CONFIRM_SMS.test((await smsTo('+33612345678'))[0] ?? '')).toBe(true);
    // No gateway and not in production: the SMS lands in the development mailbox, named as an SMS.
    expect(portal.config.smsUrl).toBeUndefined();
    expect(portal.config.devSms).toBe(true);
    const shown = await portal.ctx.db.selectFrom('dev_mailbox').select(['subject', 'body_html']).where('recipient', '=', '+33612345678').executeTakeFirstOrThrow();
    expect(shown.subject).toMatch(/^SMS : \d{6} est le code de confirmation/);
    expect(shown.body_html).toContain('SMS pour +33612345678');
    // Mon compte tells a number waits for its code, masked, with a link.
    const account = await client.get('/compte');
    expect(account.text).toContain(`Le numéro ${maskPhone('+33612345678')} attend sa confirmation`);
    expect(account.text).toContain('href="/compte/telephone/confirmation"');
    expect((await user(userId)).backup_phone).toBeNull();
  });

  it('refuses a wrong current password, which counts towards the lockout', async () => {
    const { client, userId } = await portal.activeUser('mdp1');
    const wrong = await setPhone(client, '06 98 76 54 32', 'Pas-le-bon-mot-de-passe1');
    expect(wrong.status).toBe(400);
    expect(decodeEntities(wrong.text)).toContain('« Mot de passe actuel » est incorrect.');
    expect((await user(userId)).failed_count).toBe(1);
    expect(await smsTo('+33698765432')).toEqual([]);
    const failure = (await events(userId)).find((e) => e.type === 'login.failure');
    expect(details(failure!.details)).toMatchObject({ reason: 'wrong-current-password', during: 'backup-phone-change' });
    // A right password clears the count.
    expect((await setPhone(client, '06 98 76 54 32')).location).toBe('/compte/telephone/confirmation');
    expect((await user(userId)).failed_count).toBe(0);
    // The threshold of wrong guesses locks the account and ends its sessions.
    for (let i = 1; i < portal.config.lockoutThreshold; i++) expect((await setPhone(client, '06 98 76 54 32', `Faux-${i}-mot-de-passe`)).status).toBe(400);
    const locked = await setPhone(client, '06 98 76 54 32', 'Encore-un-faux-mot-de-passe');
    expect(locked.status).toBe(403);
    expect(locked.text).toContain('votre compte est verrouillé');
    expect((await user(userId)).locked_at).not.toBeNull();
    expect((await client.get('/compte')).location).toBe('/connexion');
  });

  it('uses the number for codes only once confirmed by the code received by SMS, then offers « E-mail » or « SMS »', async () => {
    const { client, email, userId } = await admin('adm-sms1');
    expect((await setPhone(client, '06 11 22 33 44')).location).toBe('/compte/telephone/confirmation');
    const e164 = '+33611223344';

    // Not confirmed yet: the sign-in asks for the e-mailed code only.
    portal.smtp.clear();
    const before = portal.client();
    expect((await before.submit('/connexion', { identifiant: 'adm-sms1', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification');
    expect((await before.get('/verification/choix')).location).toBe('/verification');
    expect((await before.get('/verification')).text).toContain('seul mode de transport disponible');
    await portal.mail(email, /code de connexion/);

    // A wrong code first, then the one received by SMS.
    const code = await confirmationCode(e164);
    const wrong = await client.submit('/compte/telephone/confirmation', { code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('Il vous reste 4 essai(s)');
    const done = await client.submit('/compte/telephone/confirmation', { code });
    expect(done.location).toBe('/compte?ok=telephone#securite');
    const account = await client.follow(done);
    expect(account.text).toContain('Votre téléphone de secours est confirmé');
    expect(account.text).toContain(`Numéro : ${maskPhone(e164)}`);
    const stored = await user(userId);
    expect(stored.backup_phone).toBe(e164);
    expect(stored.backup_phone_verified_at).toEqual(portal.clock.now());
    expect(await portal.ctx.db.selectFrom('phone_verifications').select('phone').where('user_id', '=', userId).executeTakeFirst()).toBeUndefined();
    const types = (await events(userId)).map((e) => e.type);
    expect(types).toContain('backup-phone.code.sent');
    expect(types).toContain('backup-phone.changed');
    const notice = await portal.mail(email, /modification de la sécurité de votre compte/);
    expect(notice.text).toContain(`Le téléphone de secours ${maskPhone(e164)} a été ajouté à votre compte`);

    // Now the sign-in asks to choose, then sends the code to the phone, masked on the page.
    const browser = portal.client();
    expect((await browser.submit('/connexion', { identifiant: 'adm-sms1', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification/choix');
    const choice = await browser.get('/verification/choix');
    expect(choice.text).toMatch(/<label for="methode-email">E-mail/);
    expect(choice.text).toMatch(/<label for="methode-sms">SMS <span class="hint-inline">\(\+33 6 •• •• •• 44\)<\/span>/);
    expect(choice.text).toContain('>Valider</button>');
    const chosen = await browser.submit('/verification/choix', { methode: 'sms' });
    expect(chosen.status).toBe(200);
    expect(decodeEntities(chosen.text)).toContain(`Votre code vous a été transmis par SMS : 'SMS : ${maskPhone(e164)}'`);
    expect(chosen.text).not.toContain(e164);
    const smsCode = SIGN_IN_SMS.exec((await smsTo(e164))[0] ?? '')![1]!;
    expect((await browser.submit('/verification', { code: smsCode })).location).toBe('/compte');
  });

  it('ends a confirmation after 5 wrong codes, lets a code expire, and keeps the resend cooldown', async () => {
    const { client, userId } = await portal.activeUser('essais1');
    expect((await setPhone(client, '06 55 44 33 22')).location).toBe('/compte/telephone/confirmation');
    const e164 = '+33655443322';
    const first = await confirmationCode(e164);
    const resend = async () => {
      const page = await client.get('/compte/telephone/confirmation');
      return client.post('/compte/telephone/confirmation', { _csrf: client.csrf(page.text), renvoyer: '1' });
    };
    const early = await resend();
    expect(early.status).toBe(429);
    expect(early.text).toMatch(/Patientez encore \d+ secondes/);
    // Expired after SESAME_OTP_TTL: the right code is refused, and counts.
    portal.clock.advance(portal.config.otpTtlMs + 1000);
    const late = await client.submit('/compte/telephone/confirmation', { code: first });
    expect(late.status).toBe(400);
    expect(late.text).toContain('a expiré');
    expect((await resend()).status).toBe(200);
    const second = await confirmationCode(e164);
    // A new code does not reset the count of the same number: 1 spent, 4 wrong end it.
    const wrongCode = second === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i++) expect((await client.submit('/compte/telephone/confirmation', { code: wrongCode })).status).toBe(400);
    const over = await client.submit('/compte/telephone/confirmation', { code: wrongCode });
    expect(over.status).toBe(400);
    expect(over.text).toContain('Trop de codes erronés');
    expect(await portal.ctx.db.selectFrom('phone_verifications').select('phone').where('user_id', '=', userId).executeTakeFirst()).toBeUndefined();
    expect((await client.get('/compte/telephone/confirmation')).location).toBe('/compte/fiche');
    expect((await user(userId)).backup_phone).toBeNull();
  });

  it('ends every trusted browser and sends a notice when the phone changes, and again when it is removed', async () => {
    const { email, userId } = await admin('adm-sms2');
    const trustedSignIn = async (browser: WebClient, method: 'email' | 'sms') => {
      portal.smtp.clear();
      const step = await browser.submit('/connexion', { identifiant: 'adm-sms2', mot_de_passe: STRONG_PASSWORD });
      if (method === 'sms') {
        expect(step.location).toBe('/verification/choix');
        await browser.submit('/verification/choix', { methode: 'email' });
      } else {
        expect(step.location).toBe('/verification');
      }
      const code = CODE_IN_MAIL.exec((await portal.mail(email, /code de connexion/)).text)![1]!;
      expect((await browser.submit('/verification', { code, confiance: '1' })).location).toBe('/compte');
    };
    const browser = portal.client();
    await trustedSignIn(browser, 'email');
    expect(await trusts(userId)).toBe(1);

    portal.smtp.clear();
    await confirmedPhone(browser, '06 20 30 40 50', '+33620304050');
    expect(await trusts(userId)).toBe(0);
    expect(browser.cookie('__Host-sesame-confiance')).toBeUndefined();
    const revoked = (await events(userId)).filter((e) => e.type === 'trusted-browser.revoked').map((e) => details(e.details));
    expect(revoked).toContainEqual({ reason: 'backup-phone-changed', count: 1 });
    await portal.mail(email, /modification de la sécurité de votre compte/);

    // Another number replaces it; the notice says so.
    portal.smtp.clear();
    await confirmedPhone(browser, '+33 6 33 44 55 66', '+33633445566');
    expect((await portal.mail(email, /modification de la sécurité/)).text).toContain(`remplacé par le ${maskPhone('+33633445566')}`);
    expect((await user(userId)).backup_phone).toBe('+33633445566');

    // Trusted again, then the phone is removed: the password is asked, the trust ends, a notice leaves.
    const other = portal.client();
    await trustedSignIn(other, 'sms');
    expect(await trusts(userId)).toBe(1);
    const form = await other.get('/compte/fiche');
    expect(form.text).toContain(`<dd>${maskPhone('+33633445566')}</dd>`);
    expect(form.text).toContain('formaction="/compte/telephone/supprimer"');
    const refused = await other.post('/compte/telephone/supprimer', { _csrf: other.csrf(form.text), mot_de_passe_actuel: 'Pas-le-bon-mot-de-passe1' });
    expect(refused.status).toBe(400);
    expect(decodeEntities(refused.text)).toContain('« Mot de passe actuel » est incorrect.');
    expect((await user(userId)).backup_phone).toBe('+33633445566');
    portal.smtp.clear();
    const removed = await other.post('/compte/telephone/supprimer', { _csrf: other.csrf(form.text), mot_de_passe_actuel: STRONG_PASSWORD });
    expect(removed.location).toBe('/compte?ok=telephone-supprime#securite');
    expect((await other.follow(removed)).text).toContain('Votre téléphone de secours a été supprimé');
    const stored = await user(userId);
    expect(stored.backup_phone).toBeNull();
    expect(stored.backup_phone_verified_at).toBeNull();
    expect(await trusts(userId)).toBe(0);
    expect((await events(userId)).map((e) => e.type)).toContain('backup-phone.removed');
    expect((await portal.mail(email, /modification de la sécurité/)).text).toContain('a été retiré de votre compte');
    // Back to e-mail only.
    expect((await portal.client().submit('/connexion', { identifiant: 'adm-sms2', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification');
  });

  it('an empty field removes the phone; the same verified number changes nothing', async () => {
    const { client, userId } = await portal.activeUser('vide1');
    expect((await setPhone(client, '')).status).toBe(400);
    await confirmedPhone(client, '06 77 88 99 00', '+33677889900');
    const sent = (await smsTo('+33677889900')).length;
    const same = await setPhone(client, '0677889900');
    expect(same.location).toBe('/compte?ok=telephone-inchange#securite');
    expect((await smsTo('+33677889900')).length).toBe(sent);
    expect((await setPhone(client, '')).location).toBe('/compte?ok=telephone-supprime#securite');
    expect((await user(userId)).backup_phone).toBeNull();
  });

  it('never writes a code or the text of an SMS in the audit log, and empties delivered SMS from the outbox', async () => {
    const { client, userId } = await portal.activeUser('trace1');
    await confirmedPhone(client, '06 71 23 45 67', '+33671234567');
    const texts = await smsTo('+33671234567');
    const code = CONFIRM_SMS.exec(texts[0]!)![1]!;
    const audit = JSON.stringify(await events(userId));
    expect(audit).not.toContain(code);
    expect(audit).not.toContain('est le code');
    expect(audit).not.toContain('+33671234567');
    expect(audit).toContain(maskPhone('+33671234567'));
    const outbox = await portal.ctx.db.selectFrom('outbox').select(['body_text', 'sent_at']).where('recipient', '=', '+33671234567').execute();
    expect(outbox.length).toBeGreaterThan(0);
    for (const row of outbox) {
      expect(row.sent_at).not.toBeNull();
      expect(row.body_text).toBeNull();
    }
  });
});
