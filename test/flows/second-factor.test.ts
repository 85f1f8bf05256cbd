import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskEmail } from '../../src/domain/masking.ts';
import type { WebClient } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';

const CODE_IN_MAIL = /Code : (\d{6})/;

describe.each(ENGINES)('second factor by e-mail on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  /** An admin who has completed first connection (code included); returns a fresh client. */
  async function admin(login: string): Promise<{ email: string }> {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    const signIn = await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary });
    expect(signIn.location).toBe('/verification');
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    const passed = await client.submit('/verification', { code });
    expect(passed.location).toBe('/premiere-connexion');
    const done = await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD });
    expect(done.status).toBe(200);
    portal.smtp.clear();
    return { email: user.email };
  }

  /** « Renvoyer le code »: a form of the code page. */
  async function resend(client: WebClient) {
    const page = await client.get('/verification');
    return client.post('/verification/renvoi', { _csrf: client.csrf(page.text) });
  }

  async function passwordStep(client: WebClient, login: string) {
    return client.submit('/connexion', { identifiant: login, mot_de_passe: STRONG_PASSWORD });
  }

  it('asks an admin for a code mailed to them, masked on the page, before any session exists', async () => {
    const { email } = await admin('adm1');
    const client = portal.client();
    expect((await passwordStep(client, 'adm1')).location).toBe('/verification');
    expect(client.cookie('__Host-sesame')).toBeUndefined();
    expect((await client.get('/compte')).location).toBe('/connexion');
    const page = await client.get('/verification');
    expect(maskEmail(email)).toBe('axxx@hxxxxxxxxxxx.example');
    expect(page.text).toContain(`Votre code vous a été transmis sur le seul mode de transport disponible pour votre compte : &#39;Email : ${maskEmail(email)}&#39;`);
    expect(page.text).toContain('autocomplete="one-time-code"');
    const mail = await portal.mail(email, /code de connexion/);
    const code = CODE_IN_MAIL.exec(mail.text)![1]!;
    const wrong = await client.submit('/verification', { code: code === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('Il vous reste 4 essai(s)');
    const ok = await client.submit('/verification', { code: ` ${code.slice(0, 3)} ${code.slice(3)} ` });
    expect(ok.location).toBe('/compte');
    expect((await client.get('/compte')).status).toBe(200);
    // Single use: the challenge is gone.
    expect((await client.get('/verification')).status).toBe(401);
  });

  it('does not ask a member without a privileged role', async () => {
    const member = await portal.activeUser('membre1');
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: member.login, mot_de_passe: member.password })).location).toBe('/compte');
  });

  it('ends the attempt after 5 wrong codes, and a new code does not reset the count', async () => {
    await admin('adm2');
    const client = portal.client();
    await passwordStep(client, 'adm2');
    for (let i = 0; i < 3; i++) expect((await client.submit('/verification', { code: '000000' })).status).toBe(400);
    portal.clock.advance(61_000);
    expect((await resend(client)).status).toBe(200);
    const code = CODE_IN_MAIL.exec((await portal.mail('adm2@hopital.test.example', /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code: code === '000000' ? '111111' : '000000' })).text).toContain('Il vous reste 1 essai(s)');
    const fifth = await client.submit('/verification', { code: code === '000000' ? '111111' : '000000' });
    expect(fifth.status).toBe(401);
    expect(fifth.text).toContain('Trop de codes erronés');
    expect((await client.get('/verification')).status).toBe(401);
  });

  it('refuses a resend within the cooldown, and an expired code', async () => {
    await admin('adm3');
    const client = portal.client();
    await passwordStep(client, 'adm3');
    expect((await resend(client)).status).toBe(429);
    const code = CODE_IN_MAIL.exec((await portal.mail('adm3@hopital.test.example', /code de connexion/)).text)![1]!;
    portal.clock.advance(5 * 60_000 + 1000);
    const late = await client.submit('/verification', { code });
    expect(late.status).toBe(400);
    expect(late.text).toContain('a expiré');
  });

  it('binds a code to its attempt: the code of another attempt fails', async () => {
    await admin('adm4');
    const first = portal.client();
    await passwordStep(first, 'adm4');
    const codeA = CODE_IN_MAIL.exec((await portal.mail('adm4@hopital.test.example', /code de connexion/)).text)![1]!;
    portal.smtp.clear();
    const second = portal.client();
    await passwordStep(second, 'adm4');
    const codeB = CODE_IN_MAIL.exec((await portal.mail('adm4@hopital.test.example', /code de connexion/)).text)![1]!;
    if (codeA !== codeB) expect((await second.submit('/verification', { code: codeA })).status).toBe(400);
    expect((await second.submit('/verification', { code: codeB })).location).toBe('/compte');
  });

  it('trusts a browser for 24 h when asked, and another professional signing in on it cancels that trust', async () => {
    await admin('adm5');
    await admin('adm6');
    const browser = portal.client();
    await passwordStep(browser, 'adm5');
    let code = CODE_IN_MAIL.exec((await portal.mail('adm5@hopital.test.example', /code de connexion/)).text)![1]!;
    expect((await browser.submit('/verification', { code, confiance: '1' })).location).toBe('/compte');
    expect(browser.cookie('__Host-sesame-confiance')).toBeDefined();
    await browser.submit('/compte', {}).catch(() => undefined);
    await browser.post('/deconnexion', { _csrf: browser.csrf((await browser.get('/compte')).text) });
    // Same browser, same user: no code.
    expect((await passwordStep(browser, 'adm5')).location).toBe('/compte');
    await browser.post('/deconnexion', { _csrf: browser.csrf((await browser.get('/compte')).text) });
    // Another browser: the code is asked.
    expect((await passwordStep(portal.client(), 'adm5')).location).toBe('/verification');
    // Another professional on the same browser: adm5's trust ends.
    expect((await passwordStep(browser, 'adm6')).location).toBe('/verification');
    expect(browser.cookie('__Host-sesame-confiance')).toBeUndefined();
    code = CODE_IN_MAIL.exec((await portal.mail('adm6@hopital.test.example', /code de connexion/)).text)![1]!;
    expect((await browser.submit('/verification', { code })).location).toBe('/compte');
    await browser.post('/deconnexion', { _csrf: browser.csrf((await browser.get('/compte')).text) });
    expect((await passwordStep(browser, 'adm5')).location).toBe('/verification');
  });

  it('lets the trust expire after SESAME_TRUSTED_BROWSER_TTL', async () => {
    await admin('adm7');
    const browser = portal.client();
    await passwordStep(browser, 'adm7');
    const code = CODE_IN_MAIL.exec((await portal.mail('adm7@hopital.test.example', /code de connexion/)).text)![1]!;
    await browser.submit('/verification', { code, confiance: '1' });
    await browser.post('/deconnexion', { _csrf: browser.csrf((await browser.get('/compte')).text) });
    portal.clock.advance(24 * 3_600_000 + 1000);
    expect((await passwordStep(browser, 'adm7')).location).toBe('/verification');
  });
});

describe('SESAME_2FA_REQUIRED=all', () => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal('pglite', { SESAME_2FA_REQUIRED: 'all' }); });
  afterAll(async () => { await portal?.close(); });

  it('asks everyone for a code', async () => {
    const user = await portal.createUser('quiconque');
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: 'quiconque', mot_de_passe: user.temporary })).location).toBe('/verification');
  });
});
