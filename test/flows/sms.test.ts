import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createContext } from '../../src/context.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { maskPhone } from '../../src/domain/masking.ts';
import { createAccount } from '../../src/flows/accounts.ts';
import { retryDelayMs } from '../../src/notify/outbox.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { buildApp } from '../../src/web/app.ts';
import { decodeEntities, WebClient } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, TEST_HASH_PARAMS, type Engine, type Portal } from '../support/portal.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { startSmtpSink } from '../support/smtp.ts';

/**
 * SMS through a real HTTP server on loopback standing for the gateway (SESAME_SMS_URL): the request's
 * shape, retries through the outbox while it is down, the caps against SMS pumping, and the text of an
 * SMS kept out of the logs and the audit log.
 */
const TOKEN = 'jeton-passerelle-de-test';
const CONFIRM_SMS = /^(\d{6}) est le code de confirmation de votre téléphone de secours/;
const SIGN_IN_SMS = /^(\d{6}) est votre code de connexion/;
const CODE_IN_MAIL = /Code : (\d{6})/;

interface GatewayRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: Record<string, unknown>;
  /** What the gateway answered. */
  status: number;
}

interface Gateway {
  url: string;
  requests: GatewayRequest[];
  /** 'down' answers 503 (the operator's outage); close() makes the port refuse connections. */
  mode: 'up' | 'down';
  texts(to: string): string[];
  close(): Promise<void>;
  reopen(): Promise<void>;
  stop(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function startGateway(): Promise<Gateway> {
  let server: Server | undefined;
  let port = 0;
  const gateway: Gateway = {
    url: '',
    requests: [],
    mode: 'up',
    texts: (to) => gateway.requests.filter((r) => r.status === 200 && r.body.to === to).map((r) => String(r.body.text)),
    async close() {
      if (!server) return;
      const s = server;
      server = undefined;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async reopen() {
      server = createServer(async (req, res) => {
        const raw = await readBody(req);
        let body: Record<string, unknown> = {};
        try { body = JSON.parse(raw) as Record<string, unknown>; } catch { /* recorded as {} */ }
        const status = gateway.mode === 'up' ? 200 : 503;
        gateway.requests.push({
          method: req.method ?? '',
          path: req.url ?? '',
          authorization: req.headers.authorization,
          contentType: req.headers['content-type'],
          body,
          status,
        });
        res.writeHead(status, { 'content-type': 'application/json' }).end(status === 200 ? '{"id":"ok"}' : '{"error":"indisponible"}');
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(port, '127.0.0.1', () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      gateway.url = `http://127.0.0.1:${port}/sms`;
    },
    stop: () => gateway.close(),
  };
  await gateway.reopen();
  return gateway;
}

describe.each(ENGINES)('SMS through the HTTP gateway on %s', (engine) => {
  let portal: Portal;
  let gateway: Gateway;
  beforeAll(async () => {
    gateway = await startGateway();
    portal = await startPortal(engine, { SESAME_SMS_URL: gateway.url, SESAME_SMS_TOKEN: TOKEN, SESAME_SMS_PER_HOUR_PER_NUMBER: '3' });
  });
  afterAll(async () => {
    await portal?.close();
    await gateway?.stop();
  });

  const setPhone = (client: WebClient, telephone: string) => client.submit('/compte/fiche', { telephone, mot_de_passe_actuel: STRONG_PASSWORD });
  const resend = async (client: WebClient) => {
    const page = await client.get('/compte/telephone/confirmation');
    return client.post('/compte/telephone/confirmation', { _csrf: client.csrf(page.text), renvoyer: '1' });
  };

  async function lastText(to: string, pattern: RegExp): Promise<string> {
    await portal.deliver();
    const text = gateway.texts(to).at(-1) ?? '';
    const code = pattern.exec(text)?.[1];
    if (!code) throw new Error(`no SMS to ${to} matching ${pattern}: ${text}`);
    return code;
  }

  /** An admin with a backup phone confirmed through the gateway; returns a fresh client. */
  async function adminWithPhone(login: string, telephone: string, e164: string): Promise<{ email: string }> {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary });
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    expect((await setPhone(client, telephone)).location).toBe('/compte/telephone/confirmation');
    const confirm = await lastText(e164, CONFIRM_SMS);
    expect((await client.submit('/compte/telephone/confirmation', { code: confirm })).location).toBe('/compte?ok=telephone#securite');
    await portal.deliver();
    portal.smtp.clear();
    return { email: user.email };
  }

  it('posts JSON {to, text} with the bearer token, and the code received confirms the number', async () => {
    expect(portal.config.devSms).toBe(false);
    const { client, userId } = await portal.activeUser('passerelle1');
    await portal.deliver();
    expect((await setPhone(client, '06 12 34 56 78')).location).toBe('/compte/telephone/confirmation');
    const before = gateway.requests.length;
    expect(await portal.deliver()).toMatchObject({ sent: 1, failed: 0 });
    const [request] = gateway.requests.slice(before);
    expect(request).toMatchObject({ method: 'POST', path: '/sms', authorization: `Bearer ${TOKEN}`, status: 200 });
    expect(request!.contentType).toMatch(/^application\/json/);
    expect(Object.keys(request!.body).sort()).toEqual(['text', 'to']);
    expect(request!.body.to).toBe('+33612345678');
    const code = CONFIRM_SMS.exec(String(request!.body.text))![1]!;
    expect(String(request!.body.text).length).toBeLessThanOrEqual(160);
    expect((await client.submit('/compte/telephone/confirmation', { code })).location).toBe('/compte?ok=telephone#securite');
    expect((await portal.ctx.db.selectFrom('users').select('backup_phone').where('id', '=', userId).executeTakeFirstOrThrow()).backup_phone).toBe('+33612345678');
    // With a gateway, nothing lands in the development mailbox.
    expect(await portal.ctx.db.selectFrom('dev_mailbox').select('id').where('sender', '=', 'SMS').execute()).toEqual([]);
  });

  it('retries a sign-in SMS while the gateway is down (503, then a closed port), loses no code, and tells the user', async () => {
    await adminWithPhone('adm-panne1', '06 98 76 54 32', '+33698765432');
    const e164 = '+33698765432';
    const browser = portal.client();
    expect((await browser.submit('/connexion', { identifiant: 'adm-panne1', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification/choix');
    gateway.mode = 'down';
    const chosen = await browser.submit('/verification/choix', { methode: 'sms' });
    expect(decodeEntities(chosen.text)).toContain(`'SMS : ${maskPhone(e164)}'`);

    // Down: 503. The outbox row stays, with its error, due again after the back-off.
    const first = await portal.deliver();
    expect(first.failed).toBe(1);
    expect(first.sent).toBe(0);
    const refusedText = gateway.requests.at(-1)!;
    expect(refusedText).toMatchObject({ status: 503, body: { to: e164 } });
    const page = decodeEntities((await browser.get('/verification')).text);
    expect(page).toContain('L’envoi du SMS n’a pas encore abouti');
    expect(page).toContain('recevez le code par e-mail');
    expect(page).toContain('href="/verification/choix"');
    expect(await portal.deliver()).toEqual({ sent: 0, failed: 0 }); // not before the back-off

    // The port closed: refused connections are failures too.
    await gateway.close();
    portal.clock.advance(retryDelayMs(1) + 1000);
    expect(await portal.deliver()).toEqual({ sent: 0, failed: 1 });
    const row = await portal.ctx.db.selectFrom('outbox').select(['attempts', 'last_error', 'sent_at'])
      .where('recipient', '=', e164).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(row.attempts).toBe(2);
    expect(row.sent_at).toBeNull();
    expect(row.last_error).toMatch(/injoignable/);

    // Back up: delivered at the next attempt, the same text, and that code still works within its TTL.
    gateway.mode = 'up';
    await gateway.reopen();
    portal.clock.advance(retryDelayMs(2) + 1000);
    expect(await portal.deliver()).toEqual({ sent: 1, failed: 0 });
    const delivered = gateway.requests.at(-1)!;
    expect(delivered.status).toBe(200);
    expect(delivered.body).toEqual(refusedText.body);
    expect(decodeEntities((await browser.get('/verification')).text)).not.toContain('L’envoi du SMS n’a pas encore abouti');
    const code = SIGN_IN_SMS.exec(String(delivered.body.text))![1]!;
    expect((await browser.submit('/verification', { code })).location).toBe('/compte');
  });

  it('while the SMS is stuck, the code page lets the user get the code by e-mail instead', async () => {
    const { email } = await adminWithPhone('adm-panne2', '06 11 22 33 44', '+33611223344');
    const browser = portal.client();
    await browser.submit('/connexion', { identifiant: 'adm-panne2', mot_de_passe: STRONG_PASSWORD });
    gateway.mode = 'down';
    try {
      await browser.submit('/verification/choix', { methode: 'sms' });
      expect((await portal.deliver()).failed).toBeGreaterThanOrEqual(1);
      expect(decodeEntities((await browser.get('/verification')).text)).toContain('L’envoi du SMS n’a pas encore abouti');
      const byMail = await browser.submit('/verification/choix', { methode: 'email' });
      expect(byMail.status).toBe(200);
      expect(decodeEntities(byMail.text)).not.toContain('L’envoi du SMS n’a pas encore abouti');
      const code = CODE_IN_MAIL.exec((await portal.mail(email, /code de connexion/)).text)![1]!;
      expect((await browser.submit('/verification', { code })).location).toBe('/compte');
    } finally {
      gateway.mode = 'up';
    }
  });

  it('caps the SMS per number and per hour, whoever asks for the number (SMS pumping)', async () => {
    const e164 = '+33769123456';
    const [a, b, c] = await Promise.all(['pompe1', 'pompe2', 'pompe3'].map((login) => portal.activeUser(login)));
    expect((await setPhone(a!.client, '07 69 12 34 56')).location).toBe('/compte/telephone/confirmation');
    portal.clock.advance(portal.config.otpResendCooldownMs + 1000);
    expect((await resend(a!.client)).status).toBe(200);
    expect((await setPhone(b!.client, '07 69 12 34 56')).location).toBe('/compte/telephone/confirmation');
    // SESAME_SMS_PER_HOUR_PER_NUMBER=3: the fourth SMS to the number is refused, to anyone.
    portal.clock.advance(portal.config.otpResendCooldownMs + 1000);
    const capped = await resend(b!.client);
    expect(capped.status).toBe(429);
    expect(decodeEntities(capped.text)).toContain('Trop de SMS ont été envoyés à ce numéro');
    const third = await setPhone(c!.client, '07 69 12 34 56');
    expect(third.status).toBe(429);
    expect(decodeEntities(third.text)).toContain('Trop de SMS ont été envoyés à ce numéro');
    await portal.deliver();
    expect(gateway.requests.filter((r) => r.body.to === e164)).toHaveLength(3);
    // Another number is not concerned; the same one again an hour later.
    expect((await setPhone(c!.client, '06 40 12 34 56')).location).toBe('/compte/telephone/confirmation');
    portal.clock.advance(3_600_000);
    const later = portal.client(); // the session has ended meanwhile
    expect((await later.submit('/connexion', { identifiant: 'pompe3', mot_de_passe: STRONG_PASSWORD })).location).toBe('/compte');
    expect((await setPhone(later, '07 69 12 34 56')).location).toBe('/compte/telephone/confirmation');
    await portal.deliver();
    expect(gateway.requests.filter((r) => r.body.to === e164)).toHaveLength(4);
  });
});

/** A portal whose logs are kept: the texts of SMS, failing or not, must never reach them. */
describe.each(ENGINES)('SMS texts stay out of the logs on %s', (engine: Engine) => {
  it('logs the gateway failure without the text, the code or the token, and audits no code', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'trace' }, { write: (line: string) => { lines.push(line); } });
    const gateway = await startGateway();
    const smtp = await startSmtpSink();
    const database = engine === 'postgres' ? await createTestDatabase(inject('pgAdminUrl')) : undefined;
    const config = loadConfig({
      PORT: '0',
      SESAME_SMTP_URL: smtp.url,
      SESAME_PUBLIC_URL: 'https://portail.test.example',
      SESAME_SMS_URL: gateway.url,
      SESAME_SMS_TOKEN: TOKEN,
      ...(database ? { DATABASE_URL: database.url } : { SESAME_DATA_DIR: 'memory://' }),
    });
    const clock = new ManualClock();
    const ctx = await createContext(config, { clock, hashParams: TEST_HASH_PARAMS, log });
    const app = await buildApp(ctx);
    try {
      await app.listen({ port: 0, host: '127.0.0.1' });
      const client = new WebClient(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
      const created = await createAccount(ctx, { login: 'journal1', email: 'journal1@hopital.test.example', name: 'Camille Martin' }, CLI_ORIGIN);
      if (!created.ok) throw new Error(JSON.stringify(created.errors));
      await ctx.outbox.deliverDue();
      const mail = await smtp.waitFor((m) => /mot de passe provisoire/.test(m.subject));
      const temporary = /Mot de passe provisoire : (\S+)/.exec(mail.text)![1]!;
      expect((await client.submit('/connexion', { identifiant: 'journal1', mot_de_passe: temporary })).location).toBe('/premiere-connexion');
      expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);

      gateway.mode = 'down';
      expect((await client.submit('/compte/fiche', { telephone: '06 33 44 55 66', mot_de_passe_actuel: STRONG_PASSWORD })).location).toBe('/compte/telephone/confirmation');
      expect((await ctx.outbox.deliverDue()).failed).toBe(1);
      expect(decodeEntities((await client.get('/compte/telephone/confirmation')).text)).toContain('L’envoi du SMS n’a pas encore abouti');
      gateway.mode = 'up';
      clock.advance(retryDelayMs(1) + 1000);
      expect((await ctx.outbox.deliverDue()).sent).toBe(1);
      const text = gateway.texts('+33633445566')[0]!;
      const code = CONFIRM_SMS.exec(text)![1]!;
      expect((await client.submit('/compte/telephone/confirmation', { code })).location).toBe('/compte?ok=telephone#securite');

      const logged = lines.join('\n');
      expect(logged).toContain('outbox: delivery failed'); // the logs were captured
      expect(logged).toContain('/compte/telephone/confirmation');
      expect(logged).not.toContain(code);
      expect(logged).not.toContain('est le code');
      expect(logged).not.toContain(TOKEN);
      const audited = JSON.stringify(await ctx.db.selectFrom('audit_events').select(['type', 'details']).execute());
      expect(audited).toContain('backup-phone.code.sent');
      expect(audited).not.toContain(code);
      expect(audited).not.toContain('est le code');
      const outbox = await ctx.db.selectFrom('outbox').select('body_text').where('channel', '=', 'sms').execute();
      expect(outbox.every((r) => r.body_text === null)).toBe(true);
    } finally {
      await app.close();
      await ctx.close();
      await smtp.close();
      await gateway.stop();
      await database?.drop();
    }
  });
});
