import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './support/postgres.ts';
import { startSmtpSink, type Mail, type SmtpSink } from './support/smtp.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'sesame.js');

/** The test runner's environment without any setting of the portal's, so only what a test gives counts. */
const BASE_ENV = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(SESAME_|DATABASE_URL$|PORT$|HOST$|NODE_ENV$|NODE_OPTIONS$|VITEST)/.test(key)),
) as Record<string, string>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/sesame.js …` as a shell user would. */
function sesame(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sesame ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function temporaryPasswordIn(mail: Mail): string {
  const found = /Mot de passe provisoire : (\S+)/.exec(mail.text)?.[1];
  if (!found) throw new Error(`no temporary password in:\n${mail.text}`);
  return found;
}

const BRAND = {
  SESAME_PUBLIC_URL: 'https://portail.test.example',
  SESAME_PORTAL_NAME: 'Portail Test',
  SESAME_SUPPORT_EMAIL: 'support@test.example',
};

describe('sesame (CLI)', () => {
  let tmp: string;
  let smtp: SmtpSink;
  let database: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'sesame-cli-'));
    smtp = await startSmtpSink();
    database = await createTestDatabase(inject('pgAdminUrl'));
    env = { ...BRAND, DATABASE_URL: database.url, SESAME_SMTP_URL: smtp.url, SESAME_DATA_DIR: path.join(tmp, 'unused') };
  }, 120_000);
  afterAll(async () => {
    await smtp?.close();
    await database?.drop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('--help everywhere: usage on stdout, exit 0, no database touched', async () => {
    const dataDir = path.join(tmp, 'help');
    const helpEnv = { SESAME_DATA_DIR: dataDir };
    const [top, user, create, migrate, serve] = await Promise.all([
      sesame(['--help'], helpEnv),
      sesame(['user', '--help'], helpEnv),
      sesame(['user', 'create', '--help'], helpEnv),
      sesame(['migrate', '--help'], helpEnv),
      sesame(['serve', '--help'], helpEnv),
    ]);
    for (const run of [top, user, create, migrate, serve]) {
      expect([run.code, run.stderr]).toEqual([0, '']);
    }
    expect(top.stdout).toMatch(/^Usage : sesame <commande> \[options\]/);
    expect(top.stdout).toContain('user create --login IDENTIFIANT --email EMAIL --name "Prénom Nom"');
    expect(user.stdout).toBe(top.stdout);
    expect(create.stdout.trim()).toBe('Usage : sesame user create --login IDENTIFIANT --email EMAIL --name "Prénom Nom" [--establishment ID] [--role ROLE]…');
    expect(migrate.stdout).toMatch(/^Usage : sesame migrate\n/);
    expect(serve.stdout).toMatch(/^Usage : sesame serve\n/);
    // Asking for help created no database (PGlite would have made the directory).
    expect(existsSync(dataDir)).toBe(false);
  }, 120_000);

  it('refuses a bad setting with a message naming the variable', async () => {
    const run = await sesame(['serve'], { ...env, SESAME_LOCKOUT_THRESHOLD: 'abc' });
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('Réglage invalide : SESAME_LOCKOUT_THRESHOLD doit être un nombre entier entre 1 et 100 (reçu « abc »).');
    expect(run.stdout).toBe('');
  }, 120_000);

  it('migrate, user create (two mails, no password printed), its refusals, list, unknown unlock/reset, reset', async () => {
    const migrate = await sesame(['migrate'], env);
    expect([migrate.code, migrate.stderr]).toEqual([0, '']);
    expect(migrate.stdout).toMatch(/^(Migrations appliquées : 0001-foundation.*|Le schéma est à jour\.)\n$/);
    const pgClient = new pg.Client({ connectionString: database.url });
    await pgClient.connect();
    try {
      const { rows } = await pgClient.query<{ id: string }>('select id from sesame_migrations');
      expect(rows.map((r) => r.id)).toContain('0001-foundation');
    } finally {
      await pgClient.end();
    }

    const create = await sesame(['user', 'create', '--login', 'JDupont', '--email', 'Jean.Dupont@Hopital.Test.Example', '--name', 'Jean Dupont', '--role', 'medecin'], env);
    expect([create.code, create.stderr]).toEqual([0, '']);
    expect(create.stdout).toContain('Compte « jdupont » créé. Deux mails partent vers jean.dupont@hopital.test.example');
    const mails = smtp.messages.filter((m) => m.to.includes('jean.dupont@hopital.test.example'));
    expect(mails.map((m) => m.subject)).toEqual(['Portail Test : votre identifiant de connexion', 'Portail Test : votre mot de passe provisoire']);
    expect(mails[0]!.text).toContain('Identifiant : jdupont');
    const temporary = temporaryPasswordIn(mails[1]!);
    expect(create.stdout + create.stderr).not.toContain(temporary);

    const [duplicate, badEmail, missing, list, unlockUnknown, resetUnknown] = await Promise.all([
      sesame(['user', 'create', '--login', 'jdupont', '--email', 'autre@hopital.test.example', '--name', 'Autre Dupont'], env),
      sesame(['user', 'create', '--login', 'mbernard', '--email', 'pas-une-adresse', '--name', 'Marie Bernard'], env),
      sesame(['user', 'create', '--login', 'mbernard', '--name', 'Marie Bernard'], env),
      sesame(['user', 'list'], env),
      sesame(['user', 'unlock', 'inconnu'], env),
      sesame(['user', 'reset', 'inconnu'], env),
    ]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr.trim()).toBe('--login « jdupont » est déjà utilisé par un autre compte.');
    expect(badEmail.code).toBe(1);
    expect(badEmail.stderr.trim()).toBe("--email « pas-une-adresse » n'est pas une adresse e-mail valide.");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Option manquante : --email');
    expect(missing.stderr).toContain('Usage : sesame user create --login IDENTIFIANT --email EMAIL');
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('IDENTIFIANT\tE-MAIL\tNOM\tRÔLES\tÉTAT');
    expect(list.stdout).toContain('jdupont\tjean.dupont@hopital.test.example\tJean Dupont\tmedecin\tmot de passe provisoire');
    expect(list.stdout).not.toContain('mbernard');
    expect([unlockUnknown.code, unlockUnknown.stderr.trim()]).toEqual([1, 'Aucun compte « inconnu ».']);
    expect([resetUnknown.code, resetUnknown.stderr.trim()]).toEqual([1, 'Aucun compte « inconnu ».']);
    // The refused commands sent nothing.
    expect(smtp.messages.filter((m) => !m.to.includes('jean.dupont@hopital.test.example'))).toEqual([]);

    const since = smtp.messages.length;
    const reset = await sesame(['user', 'reset', 'jdupont'], env);
    expect([reset.code, reset.stderr]).toEqual([0, '']);
    expect(reset.stdout).toContain('Nouveau mot de passe provisoire émis pour « jdupont »');
    const resetMails = smtp.messages.slice(since);
    expect(resetMails.map((m) => m.subject)).toEqual(['Portail Test : votre identifiant de connexion', 'Portail Test : votre mot de passe provisoire']);
    expect(resetMails[1]!.text).toContain('Votre code de connexion sur Portail Test a été réinitialisé.');
    const newTemporary = temporaryPasswordIn(resetMails[1]!);
    expect(newTemporary).not.toBe(temporary);
    expect(reset.stdout + reset.stderr).not.toContain(newTemporary);
  }, 240_000);

  it('while `serve` runs on a PGlite directory, `user …` is forwarded to it; SIGTERM stops it cleanly', async () => {
    const dataDir = path.join(tmp, 'pglite');
    const port = await freePort();
    const cliSmtp = await startSmtpSink();
    const server = spawn(process.execPath, [BIN, 'serve'], {
      cwd: ROOT,
      env: { ...BASE_ENV, ...BRAND, SESAME_DATA_DIR: dataDir, PORT: String(port), SESAME_SMTP_URL: smtp.url, SESAME_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    server.stdout.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => server.on('close', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 90_000);
        const check = () => {
          if (out.includes('est prêt')) {
            clearTimeout(timer);
            resolve();
          }
        };
        server.stdout.on('data', check);
        void exited.then((code) => reject(new Error(`serve exited (${code}):\n${out}`)));
      });
      expect(out).toContain(`Écoute sur http://127.0.0.1:${port} · base PGlite (${dataDir})`);
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok', database: 'pglite' });
      const bridge = path.join(dataDir, 'cli-bridge.json');
      expect(statSync(bridge).mode & 0o777).toBe(0o600);

      // The CLI is given another SMTP server: had it opened the database itself, it would have sent the
      // mails there. Forwarded, the server creates the account and its outbox worker sends the mails.
      const since = smtp.messages.length;
      const create = await sesame(['user', 'create', '--login', 'pont', '--email', 'pont@hopital.test.example', '--name', 'Paul Pont'], {
        ...BRAND, SESAME_DATA_DIR: dataDir, SESAME_SMTP_URL: cliSmtp.url,
      });
      expect([create.code, create.stderr]).toEqual([0, '']);
      expect(create.stdout).toContain('Compte « pont » créé.');
      await smtp.waitFor((m) => m.to.includes('pont@hopital.test.example') && /provisoire/.test(m.subject), 15_000);
      expect(smtp.messages.slice(since).map((m) => m.subject).sort()).toEqual(['Portail Test : votre identifiant de connexion', 'Portail Test : votre mot de passe provisoire']);
      expect(cliSmtp.messages).toEqual([]);
      const temporary = temporaryPasswordIn(smtp.messages.find((m) => m.to.includes('pont@hopital.test.example') && /provisoire/.test(m.subject))!);
      expect(create.stdout).not.toContain(temporary);

      const list = await sesame(['user', 'list'], { ...BRAND, SESAME_DATA_DIR: dataDir });
      expect(list.code).toBe(0);
      expect(list.stdout).toContain('pont\tpont@hopital.test.example\tPaul Pont\t-\tmot de passe provisoire');

      server.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(bridge)).toBe(false);
      expect(out).not.toContain(temporary);
    } finally {
      if (server.exitCode === null) server.kill('SIGKILL');
      await cliSmtp.close();
    }
  }, 240_000);
});
