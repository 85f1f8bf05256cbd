import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { hashRecoveryCode } from '../../src/flows/second-factor-methods.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import type { WebClient } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import { auditOf, mailSince, visible } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CODE_IN_MAIL = /Code : (\d{6})/;
const TRUST_COOKIE = '__Host-sesame-confiance';

function appCode(secret: string, atMs: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({ timestamp: atMs });
}

/** runCommand with its output collected. */
async function cli(portal: Portal, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCommand(portal.ctx, argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** What the user has left of the second factor, table by table. */
async function factorsOf(portal: Portal, userId: string) {
  const db = portal.ctx.db;
  const count = async (table: 'totp_credentials' | 'webauthn_credentials' | 'recovery_codes' | 'trusted_browsers' | 'phone_verifications' | 'sessions' | 'login_challenges') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow()).n);
  const user = await db.selectFrom('users').select(['backup_phone', 'backup_phone_verified_at']).where('id', '=', userId).executeTakeFirstOrThrow();
  return {
    phone: user.backup_phone,
    totp: await count('totp_credentials'),
    passkeys: await count('webauthn_credentials'),
    recoveryCodes: await count('recovery_codes'),
    trustedBrowsers: await count('trusted_browsers'),
    phoneVerifications: await count('phone_verifications'),
    sessions: await count('sessions'),
    challenges: await count('login_challenges'),
  };
}

const NOTHING_LEFT = { phone: null, totp: 0, passkeys: 0, recoveryCodes: 0, trustedBrowsers: 0, phoneVerifications: 0, sessions: 0, challenges: 0 };

/** Factors of other engineers' features, written straight to their tables. */
async function addPhoneAndPasskey(portal: Portal, userId: string) {
  const now = portal.clock.now();
  await portal.ctx.db.updateTable('users').set({ backup_phone: '+33612345678', backup_phone_verified_at: now }).where('id', '=', userId).execute();
  await portal.ctx.db.insertInto('phone_verifications').values({ user_id: userId, phone: '+33698765432', code_hash: 'x', created_at: now, expires_at: new Date(now.getTime() + 600_000) }).execute();
  await portal.ctx.db.insertInto('webauthn_credentials').values({ id: `cle-${userId}`, user_id: userId, public_key: 'cle-publique', transports: ['internal'], name: 'Ordinateur du cabinet', created_at: now }).execute();
}

describe.each(ENGINES)('sesame user reset-2fa on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  async function admin(login: string): Promise<{ client: WebClient; email: string; userId: string }> {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary })).location).toBe('/verification');
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    return { client, email: user.email, userId: user.userId };
  }

  it('removes every factor but the e-mail, ends the sessions, audits and warns the user', async () => {
    const { client, email, userId } = await admin('raz1');
    // Authenticator app and recovery codes through « Mon compte ».
    const page = await client.get('/compte/authentificateur');
    const secret = /<code class="totp-secret">([A-Z2-7 ]+)<\/code>/.exec(page.text)![1]!.replace(/ /g, '');
    expect((await client.submit('/compte/authentificateur', { mot_de_passe_actuel: STRONG_PASSWORD, code: appCode(secret, portal.clock.now().getTime()) })).location)
      .toBe('/compte?ok=authentificateur-ajoute#securite');
    expect((await client.submit('/compte/codes-de-secours', { mot_de_passe_actuel: STRONG_PASSWORD, action: 'generer' })).status).toBe(200);
    await addPhoneAndPasskey(portal, userId);
    // A trusted browser, trusted after a sign-in with the app.
    portal.clock.advance(30_000);
    const browser = portal.client();
    expect((await browser.submit('/connexion', { identifiant: 'raz1', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification/choix');
    const choice = await browser.get('/verification/choix');
    for (const label of ['E-mail', 'SMS', 'Application d’authentification', 'Clé d’accès (passkey)', 'Code de secours']) expect(visible(choice.text)).toContain(label);
    await browser.post('/verification/choix', { _csrf: browser.csrf(choice.text), methode: 'totp' });
    expect((await browser.submit('/verification', { code: appCode(secret, portal.clock.now().getTime()), confiance: '1' })).location).toBe('/compte');
    expect(browser.cookie(TRUST_COOKIE)).toBeDefined();
    // And a sign-in left waiting for its second factor.
    await portal.client().submit('/connexion', { identifiant: 'raz1', mot_de_passe: STRONG_PASSWORD });
    expect(await factorsOf(portal, userId)).toEqual({
      phone: '+33612345678', totp: 1, passkeys: 1, recoveryCodes: 10, trustedBrowsers: 1, phoneVerifications: 1, sessions: 2, challenges: 1,
    });

    const run = await cli(portal, ['user', 'reset-2fa', 'RAZ1']);
    expect([run.code, run.err]).toEqual([0, '']);
    expect(run.out).toBe(`Double authentification de « raz1 » réinitialisée : retiré : téléphone de secours, application d'authentification, 1 clé(s) d'accès, 10 code(s) de secours, 1 navigateur(s) de confiance ; 2 session(s) terminée(s). Il reste le code par e-mail (${email}) ; un mail l'en avertit.`);
    expect(await factorsOf(portal, userId)).toEqual(NOTHING_LEFT);
    const reset = (await auditOf(portal, userId)).filter((e) => e.type === 'second-factor.reset');
    expect(reset.map((e) => [e.ip, e.user_agent, e.details])).toEqual([[CLI_ORIGIN.ip, CLI_ORIGIN.userAgent, {
      backupPhone: true, totp: true, passkeys: 1, recoveryCodes: 10, trustedBrowsers: 1, sessions: 2,
    }]]);
    await portal.deliver();
    const mail = await portal.smtp.waitFor((m) => m.to.includes(email) && /modification de la sécurité/.test(m.subject) && m.text.includes('Le support technique'));
    expect(mail.text).toContain('Le support technique a réinitialisé la double authentification de votre compte');

    // Sessions are over; the trusted browser is not trusted any more; the e-mail code is the only way.
    expect((await client.get('/compte')).location).toBe('/connexion');
    expect((await browser.get('/compte')).location).toBe('/connexion');
    const since = portal.smtp.messages.length;
    const again = await browser.submit('/connexion', { identifiant: 'raz1', mot_de_passe: STRONG_PASSWORD });
    expect(again.location).toBe('/verification');
    expect((await browser.get('/verification/choix')).location).toBe('/verification');
    const code = CODE_IN_MAIL.exec((await mailSince(portal, since, email, /code de connexion/)).text)![1]!;
    expect((await browser.submit('/verification', { code })).location).toBe('/compte');
    const account = visible((await browser.get('/compte')).text);
    expect(account).toContain('Aucune application d’authentification n’est configurée.');
    expect(account).toContain('Vous n’avez pas de codes de secours.');
  });

  it('answers like the other user commands: unknown account, usage, --help', async () => {
    const unknown = await cli(portal, ['user', 'reset-2fa', 'inconnu']);
    expect([unknown.code, unknown.out, unknown.err]).toEqual([1, '', 'Aucun compte « inconnu ».']);
    const missing = await cli(portal, ['user', 'reset-2fa']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/^Usage : sesame user reset-2fa IDENTIFIANT/);
    const extra = await cli(portal, ['user', 'reset-2fa', 'a', 'b']);
    expect(extra.code).toBe(2);
    const unknownOption = await cli(portal, ['user', 'reset-2fa', '--force', 'a']);
    expect(unknownOption.code).toBe(2);
    const help = await cli(portal, ['user', 'reset-2fa', '--help']);
    expect([help.code, help.err]).toEqual([0, '']);
    expect(help.out).toMatch(/^Usage : sesame user reset-2fa IDENTIFIANT\n/);
    const usage = await cli(portal, ['user', '--help']);
    expect(usage.out).toContain('user reset-2fa IDENTIFIANT');
    // A user with nothing to remove: still done (sessions end), and said so.
    const member = await portal.activeUser('raz2');
    const plain = await cli(portal, ['user', 'reset-2fa', 'raz2']);
    expect(plain.code).toBe(0);
    expect(plain.out).toContain('Double authentification de « raz2 » réinitialisée : aucune méthode à retirer ; 1 session(s) terminée(s).');
    expect((await member.client.get('/compte')).location).toBe('/connexion');
  });

  if (engine === 'postgres') {
    it('works from the real bin: node bin/sesame.js user reset-2fa LOGIN', async () => {
      const user = await portal.createUser('raz3', { roles: ['admin'] });
      const now = portal.clock.now();
      await portal.ctx.db.insertInto('totp_credentials').values({ user_id: user.userId, secret: new Secret({ size: 20 }).base32, created_at: now, confirmed_at: now }).execute();
      await portal.ctx.db.insertInto('recovery_codes').values({ user_id: user.userId, code_hash: await hashRecoveryCode(portal.ctx, user.userId, 'AAAA-BBBB-CCCC'), created_at: now }).execute();
      await addPhoneAndPasskey(portal, user.userId);
      const env = Object.fromEntries(Object.entries(process.env)
        .filter(([key]) => !/^(SESAME_|DATABASE_URL$|PORT$|HOST$|NODE_ENV$|NODE_OPTIONS$|VITEST)/.test(key))) as Record<string, string>;
      const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'sesame.js'), 'user', 'reset-2fa', 'raz3'], {
          cwd: ROOT,
          env: {
            ...env,
            DATABASE_URL: portal.config.databaseUrl!,
            SESAME_SMTP_URL: portal.smtp.url,
            SESAME_PUBLIC_URL: 'https://portail.test.example',
            SESAME_PORTAL_NAME: 'Portail Test',
            SESAME_SUPPORT_EMAIL: 'support@test.example',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
      expect([run.code, run.stderr]).toEqual([0, '']);
      expect(run.stdout).toContain("Double authentification de « raz3 » réinitialisée : retiré : téléphone de secours, application d'authentification, 1 clé(s) d'accès, 1 code(s) de secours ;");
      expect(await factorsOf(portal, user.userId)).toEqual(NOTHING_LEFT);
      expect((await auditOf(portal, user.userId)).filter((e) => e.type === 'second-factor.reset')).toHaveLength(1);
      // The command delivered its notice itself, before exiting.
      const mail = await portal.smtp.waitFor((m) => m.to.includes(user.email) && /modification de la sécurité/.test(m.subject));
    expect(mail.text).not.toContain('{');
      expect(mail.text).toContain('Le support technique a réinitialisé la double authentification de votre compte');
    }, 120_000);
  }
});
