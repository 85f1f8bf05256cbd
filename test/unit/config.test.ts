import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';

const CWD = '/srv/sesame';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, CWD);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`no ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig: defaults', () => {
  it('gives every setting its documented default', () => {
    const c = loadConfig({}, CWD);
    // The settings of the foundation (settings added later are checked by their own tests).
    expect(c).toMatchObject({
      production: false,
      port: 3000,
      host: '127.0.0.1',
      publicUrl: new URL('http://localhost:3000'),
      databaseUrl: undefined,
      dataDir: path.resolve(CWD, './data'),
      smtpUrl: undefined,
      mailFrom: '"Sésame" <no-reply@localhost.localdomain>',
      portalName: 'Sésame',
      supportEmail: 'support@example.org',
      supportPhone: '',
      devMailbox: true,
      lockoutThreshold: 5,
      tempPasswordTtlMs: 7 * 86_400_000,
      resetLinkTtlMs: 24 * 3_600_000,
      sessionIdleTtlMs: 30 * 60_000,
      sessionMaxTtlMs: 8 * 3_600_000,
      passwordMinLength: 12,
      passwordHistory: 5,
      ipFailureLimit: 100,
      ipFailureWindowMs: 15 * 60_000,
      trustProxy: false,
      captcha: 'pow',
      captchaDifficulty: 50_000,
      hashConcurrency: 4,
      hashQueue: 64,
      logLevel: 'info',
    });
  });

  it('follows PORT for the default public URL, and the public host for the sender', () => {
    const c = loadConfig({ PORT: '8080', SESAME_PUBLIC_URL: 'https://sesame.hopital.example', SESAME_PORTAL_NAME: 'Portail "Santé"' }, CWD);
    expect(loadConfig({ PORT: '8080' }, CWD).publicUrl.toString()).toBe('http://localhost:8080/');
    expect(c.mailFrom).toBe('"Portail Santé" <no-reply@sesame.hopital.example>');
    expect(c.portalName).toBe('Portail "Santé"');
  });

  it('reads every setting when given', () => {
    const c = loadConfig({
      NODE_ENV: 'production',
      PORT: '8443',
      HOST: '10.0.0.5',
      SESAME_PUBLIC_URL: 'https://sesame.hopital.example',
      DATABASE_URL: 'postgres://sesame:secret@db:5432/sesame',
      SESAME_DATA_DIR: 'var/db',
      SESAME_SMTP_URL: 'smtps://mail.hopital.example:465',
      SESAME_MAIL_FROM: 'Sésame <sesame@hopital.example>',
      SESAME_PORTAL_NAME: 'Portail Pro',
      SESAME_SUPPORT_EMAIL: 'assistance@hopital.example',
      SESAME_SUPPORT_PHONE: ' 01 23 45 67 89 ',
      SESAME_LOCKOUT_THRESHOLD: '8',
      SESAME_TEMP_PASSWORD_TTL: '3d',
      SESAME_RESET_LINK_TTL: '2h',
      SESAME_SESSION_IDLE_TTL: '15m',
      SESAME_SESSION_MAX_TTL: '12h',
      SESAME_PASSWORD_MIN_LENGTH: '16',
      SESAME_PASSWORD_HISTORY: '10',
      SESAME_IP_FAILURE_LIMIT: '500',
      SESAME_IP_FAILURE_WINDOW: '30s',
      SESAME_TRUST_PROXY: '10.0.0.0/8, 192.168.1.1',
      SESAME_CAPTCHA: 'image',
      SESAME_CAPTCHA_DIFFICULTY: '1000',
      SESAME_HASH_CONCURRENCY: '2',
      SESAME_HASH_QUEUE: '0',
      SESAME_LOG_LEVEL: 'warn',
    }, CWD);
    expect(c).toMatchObject({
      production: true,
      port: 8443,
      host: '10.0.0.5',
      databaseUrl: 'postgres://sesame:secret@db:5432/sesame',
      dataDir: path.resolve(CWD, 'var/db'),
      smtpUrl: 'smtps://mail.hopital.example:465',
      mailFrom: 'Sésame <sesame@hopital.example>',
      portalName: 'Portail Pro',
      supportEmail: 'assistance@hopital.example',
      supportPhone: '01 23 45 67 89',
      devMailbox: false,
      lockoutThreshold: 8,
      tempPasswordTtlMs: 3 * 86_400_000,
      resetLinkTtlMs: 2 * 3_600_000,
      sessionIdleTtlMs: 15 * 60_000,
      sessionMaxTtlMs: 12 * 3_600_000,
      passwordMinLength: 16,
      passwordHistory: 10,
      ipFailureLimit: 500,
      ipFailureWindowMs: 30_000,
      trustProxy: ['10.0.0.0/8', '192.168.1.1'],
      captcha: 'image',
      captchaDifficulty: 1000,
      hashConcurrency: 2,
      hashQueue: 0,
      logLevel: 'warn',
    });
    expect(c.publicUrl.toString()).toBe('https://sesame.hopital.example/');
  });

  it('binds to every interface in production by default, keeps memory:// as is, reads trust-proxy forms', () => {
    expect(loadConfig({ NODE_ENV: 'production', SESAME_PUBLIC_URL: 'https://x.example', SESAME_SMTP_URL: 'smtp://m:25' }, CWD).host).toBe('0.0.0.0');
    expect(loadConfig({ SESAME_DATA_DIR: 'memory://' }, CWD).dataDir).toBe('memory://');
    expect(loadConfig({ SESAME_TRUST_PROXY: 'true' }, CWD).trustProxy).toBe(true);
    expect(loadConfig({ SESAME_TRUST_PROXY: '2' }, CWD).trustProxy).toBe(2);
    expect(loadConfig({ SESAME_TRUST_PROXY: 'false' }, CWD).trustProxy).toBe(false);
    expect(loadConfig({ SESAME_LOCKOUT_THRESHOLD: '' }, CWD).lockoutThreshold).toBe(5);
  });
});

describe('loadConfig: durations', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
  ])('SESAME_RESET_LINK_TTL=%s', (value, ms) => {
    expect(loadConfig({ SESAME_RESET_LINK_TTL: value }, CWD).resetLinkTtlMs).toBe(ms);
    expect(loadConfig({ SESAME_TEMP_PASSWORD_TTL: value }, CWD).tempPasswordTtlMs).toBe(ms);
  });
});

describe('loadConfig: bad values stop the start with a French message naming the variable', () => {
  it.each([
    ['PORT', 'http'],
    ['PORT', '70000'],
    ['SESAME_LOCKOUT_THRESHOLD', 'abc'],
    ['SESAME_LOCKOUT_THRESHOLD', '0'],
    ['SESAME_LOCKOUT_THRESHOLD', '5.5'],
    ['SESAME_LOCKOUT_THRESHOLD', '-3'],
    ['SESAME_PASSWORD_MIN_LENGTH', '6'],
    ['SESAME_PASSWORD_MIN_LENGTH', '1e2'],
    ['SESAME_PASSWORD_HISTORY', '25'],
    ['SESAME_IP_FAILURE_LIMIT', 'beaucoup'],
    ['SESAME_HASH_CONCURRENCY', '0'],
    ['SESAME_CAPTCHA_DIFFICULTY', '5'],
  ])('%s=%j (entier)', (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(new RegExp(`^Réglage invalide : ${variable} doit être un nombre entier entre \\d+ et \\d+ \\(reçu « ${escapeRegExp(value)} »\\)\\.$`));
  });

  it.each([
    ['SESAME_TEMP_PASSWORD_TTL', '7 jours'],
    ['SESAME_RESET_LINK_TTL', '24x'],
    ['SESAME_RESET_LINK_TTL', '0s'],
    ['SESAME_SESSION_IDLE_TTL', 'demain'],
    ['SESAME_SESSION_MAX_TTL', '1.5h'],
    ['SESAME_IP_FAILURE_WINDOW', '15 min'],
  ])('%s=%j (durée)', (variable, value) => {
    const err = configError({ [variable]: value });
    expect(err.variable).toBe(variable);
    expect(err.message).toBe(`Réglage invalide : ${variable} doit être une durée comme 30s, 5m, 24h ou 7d (reçu « ${value} »).`);
  });

  it('refuses a session maximum shorter than the idle limit', () => {
    const err = configError({ SESAME_SESSION_IDLE_TTL: '2h', SESAME_SESSION_MAX_TTL: '1h' });
    expect(err.variable).toBe('SESAME_SESSION_MAX_TTL');
    expect(err.message).toMatch(/^Réglage invalide : SESAME_SESSION_MAX_TTL doit être au moins égal à SESAME_SESSION_IDLE_TTL/);
  });

  it.each([
    ['SESAME_PUBLIC_URL', 'sesame.hopital.example', /doit être une adresse complète/],
    ['SESAME_PUBLIC_URL', 'ftp://sesame.hopital.example', /doit commencer par http: ou https:\/\//],
    ['DATABASE_URL', 'mysql://db/sesame', /doit commencer par postgres: ou postgresql:\/\//],
    ['SESAME_SMTP_URL', 'http://mail.example', /doit commencer par smtp: ou smtps:\/\//],
    ['SESAME_SUPPORT_EMAIL', 'support', /doit être une adresse e-mail/],
    ['SESAME_TRUST_PROXY', 'le proxy', /doit valoir false, true, un nombre de relais/],
    ['SESAME_CAPTCHA', 'recaptcha', /doit valoir pow ou image/],
    ['SESAME_LOG_LEVEL', 'verbose', /doit valoir fatal ou error/],
  ])('%s=%j', (variable, value, message) => {
    const err = configError({ [variable]: value });
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.name).toBe('ConfigError');
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(new RegExp(`^Réglage invalide : ${variable} `));
    expect(err.message).toMatch(message);
  });

  it('never echoes the password of a connection string', () => {
    const err = configError({ DATABASE_URL: 'mysql://sesame:TopSecret42@db/sesame' });
    expect(err.message).not.toContain('TopSecret42');
    expect(err.message).toContain('mysql://sesame:***@db/sesame');
  });
});

describe('loadConfig: production', () => {
  it('requires an SMTP server', () => {
    const err = configError({ NODE_ENV: 'production', SESAME_PUBLIC_URL: 'https://sesame.hopital.example' });
    expect(err.variable).toBe('SESAME_SMTP_URL');
    expect(err.message).toMatch(/^Réglage invalide : SESAME_SMTP_URL est obligatoire en production/);
  });

  it('requires an https public URL (the default http one included)', () => {
    const envs: Record<string, string>[] = [
      { NODE_ENV: 'production', SESAME_SMTP_URL: 'smtp://mail:25', SESAME_PUBLIC_URL: 'http://sesame.hopital.example' },
      { NODE_ENV: 'production', SESAME_SMTP_URL: 'smtp://mail:25' },
    ];
    for (const env of envs) {
      const err = configError(env);
      expect(err.variable).toBe('SESAME_PUBLIC_URL');
      expect(err.message).toMatch(/^Réglage invalide : SESAME_PUBLIC_URL doit commencer par https:\/\/ en production/);
    }
  });

  it('starts with both, without the development mailbox', () => {
    const c = loadConfig({ NODE_ENV: 'production', SESAME_SMTP_URL: 'smtp://mail:25', SESAME_PUBLIC_URL: 'https://sesame.hopital.example' }, CWD);
    expect(c.production).toBe(true);
    expect(c.devMailbox).toBe(false);
  });
});
