import path from 'node:path';
import { z } from 'zod';
import { parseDuration } from './domain/durations.ts';

/**
 * Every setting, read once from the environment and validated. A bad value stops the start with a
 * message that names the variable; nothing else in the code reads process.env.
 */
export interface Config {
  production: boolean;
  port: number;
  host: string;
  publicUrl: URL;
  databaseUrl: string | undefined;
  dataDir: string;
  smtpUrl: string | undefined;
  mailFrom: string;
  portalName: string;
  supportEmail: string;
  supportPhone: string;
  devMailbox: boolean;
  lockoutThreshold: number;
  tempPasswordTtlMs: number;
  resetLinkTtlMs: number;
  sessionIdleTtlMs: number;
  sessionMaxTtlMs: number;
  passwordMinLength: number;
  passwordHistory: number;
  ipFailureLimit: number;
  ipFailureWindowMs: number;
  trustProxy: boolean | number | string[];
  captcha: 'pow' | 'image';
  captchaDifficulty: number;
  hashConcurrency: number;
  hashQueue: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Roles whose holders must pass a second factor (SESAME_2FA_ROLES). */
  secondFactorRoles: string[];
  /** 'all' extends the second factor to everyone (SESAME_2FA_REQUIRED). */
  secondFactorRequired: 'roles' | 'all';
  otpTtlMs: number;
  otpResendCooldownMs: number;
  otpSendsPerHourPerUser: number;
  otpSendsPerHourPerIp: number;
  smsPerHourPerNumber: number;
  /** How long a sign-in may wait between the password and the second factor. */
  loginChallengeTtlMs: number;
  trustedBrowserTtlMs: number;
  smsUrl: string | undefined;
  smsToken: string | undefined;
  /** SMS land in the development mailbox when no gateway is set and not in production. */
  devSms: boolean;
  invitationTtlMs: number;
  /** Audit events older than this are removed by `sesame audit purge`. */
  auditRetentionMs: number;
  /** Mail the user at each sign-in from a browser not seen before. */
  newBrowserMail: boolean;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`Réglage invalide : ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const parsed = z.coerce.number().int().min(min).max(max).safeParse(raw.trim());
  if (!parsed.success || !/^\s*\d+\s*$/.test(raw)) {
    throw new ConfigError(name, `doit être un nombre entier entre ${min} et ${max} (reçu « ${raw} »).`);
  }
  return parsed.data;
}

function duration(env: Env, name: string, fallback: string, minMs = 1000): number {
  const raw = env[name]?.trim() || fallback;
  const ms = parseDuration(raw);
  if (ms === undefined || ms < minMs) {
    throw new ConfigError(name, `doit être une durée comme 30s, 5m, 24h ou 7d (reçu « ${raw} »).`);
  }
  return ms;
}

function url(env: Env, name: string, fallback: string | undefined, protocols: string[]): URL | undefined {
  const raw = env[name] || fallback;
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(name, `doit être une adresse complète comme ${protocols[0]}//… (reçu « ${redact(raw)} »).`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `doit commencer par ${protocols.join(' ou ')}// (reçu « ${redact(raw)} »).`);
  }
  return parsed;
}

/** Never echo a password found in a connection string. */
function redact(raw: string): string {
  return raw.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
}

function trustProxy(env: Env): Config['trustProxy'] {
  const raw = (env.SESAME_TRUST_PROXY ?? '').trim();
  if (raw === '' || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  if (/^\d+$/.test(raw)) return Number(raw);
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (list.every((item) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(item))) return list;
  throw new ConfigError(
    'SESAME_TRUST_PROXY',
    `doit valoir false, true, un nombre de relais, ou une liste d'adresses de relais séparées par des virgules (reçu « ${raw} »).`,
  );
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  const raw = (env[name] ?? fallback).trim() as T;
  if (!allowed.includes(raw)) throw new ConfigError(name, `doit valoir ${allowed.join(' ou ')} (reçu « ${raw} »).`);
  return raw;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['1', 'true', 'yes', 'oui', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'non', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `doit valoir true ou false (reçu « ${env[name]} »).`);
}

function roleList(env: Env, name: string, fallback: string): string[] {
  const raw = env[name] ?? fallback;
  const roles = raw.split(',').map((r) => r.trim().toLowerCase()).filter(Boolean);
  if (!roles.every((r) => /^[a-z][a-z0-9-]{0,39}$/.test(r))) {
    throw new ConfigError(name, `doit être une liste de rôles séparés par des virgules, comme admin,patient-data (reçu « ${raw} »).`);
  }
  return roles;
}

export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const production = env.NODE_ENV === 'production';
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const publicUrl = url(env, 'SESAME_PUBLIC_URL', `http://localhost:${port}`, ['http:', 'https:'])!;
  // The portal's pages live at the root of their host: a path would give links that lead nowhere.
  if (publicUrl.pathname !== '/' || publicUrl.search || publicUrl.hash) {
    throw new ConfigError('SESAME_PUBLIC_URL', `doit être une origine sans chemin, comme https://portail.example.fr (reçu « ${publicUrl.toString()} »).`);
  }
  if (production && publicUrl.protocol !== 'https:') {
    throw new ConfigError('SESAME_PUBLIC_URL', 'doit commencer par https:// en production (les cookies de session sont « Secure »).');
  }
  const database = url(env, 'DATABASE_URL', undefined, ['postgres:', 'postgresql:']);
  const smtp = url(env, 'SESAME_SMTP_URL', undefined, ['smtp:', 'smtps:']);
  if (production && !smtp) {
    throw new ConfigError('SESAME_SMTP_URL', "est obligatoire en production : sans serveur SMTP, aucun mail ne part (la boîte de développement n'existe pas en production).");
  }
  const sms = url(env, 'SESAME_SMS_URL', undefined, ['http:', 'https:']);
  if (production && sms && sms.protocol !== 'https:') {
    throw new ConfigError('SESAME_SMS_URL', 'doit commencer par https:// en production (le jeton et les numéros y circulent).');
  }
  const portalName = (env.SESAME_PORTAL_NAME ?? 'Sésame').trim() || 'Sésame';
  const supportEmail = (env.SESAME_SUPPORT_EMAIL ?? 'support@example.org').trim();
  if (!/^[^\s@]+@[^\s@]+$/.test(supportEmail)) {
    throw new ConfigError('SESAME_SUPPORT_EMAIL', `doit être une adresse e-mail (reçu « ${supportEmail} »).`);
  }
  const mailFrom = (env.SESAME_MAIL_FROM ?? `"${portalName.replace(/"/g, '')}" <no-reply@${publicUrl.hostname === 'localhost' ? 'localhost.localdomain' : publicUrl.hostname}>`).trim();
  const sessionIdleTtlMs = duration(env, 'SESAME_SESSION_IDLE_TTL', '30m');
  const sessionMaxTtlMs = duration(env, 'SESAME_SESSION_MAX_TTL', '8h');
  if (sessionMaxTtlMs < sessionIdleTtlMs) {
    throw new ConfigError('SESAME_SESSION_MAX_TTL', 'doit être au moins égal à SESAME_SESSION_IDLE_TTL.');
  }
  return {
    production,
    port,
    host: env.HOST?.trim() || (production ? '0.0.0.0' : '127.0.0.1'),
    publicUrl,
    databaseUrl: database?.toString(),
    // "memory://" keeps PGlite in memory (tests); anything else is a directory.
    dataDir: env.SESAME_DATA_DIR?.trim().startsWith('memory://') ? env.SESAME_DATA_DIR.trim() : path.resolve(cwd, env.SESAME_DATA_DIR?.trim() || './data'),
    smtpUrl: smtp?.toString(),
    mailFrom,
    portalName,
    supportEmail,
    supportPhone: (env.SESAME_SUPPORT_PHONE ?? '').trim(),
    devMailbox: !smtp && !production,
    lockoutThreshold: integer(env, 'SESAME_LOCKOUT_THRESHOLD', 5, 1, 100),
    tempPasswordTtlMs: duration(env, 'SESAME_TEMP_PASSWORD_TTL', '7d'),
    resetLinkTtlMs: duration(env, 'SESAME_RESET_LINK_TTL', '24h'),
    sessionIdleTtlMs,
    sessionMaxTtlMs,
    passwordMinLength: integer(env, 'SESAME_PASSWORD_MIN_LENGTH', 12, 8, 128),
    passwordHistory: integer(env, 'SESAME_PASSWORD_HISTORY', 5, 0, 24),
    ipFailureLimit: integer(env, 'SESAME_IP_FAILURE_LIMIT', 100, 1, 1_000_000),
    ipFailureWindowMs: duration(env, 'SESAME_IP_FAILURE_WINDOW', '15m'),
    trustProxy: trustProxy(env),
    captcha: oneOf(env, 'SESAME_CAPTCHA', 'pow', ['pow', 'image'] as const),
    captchaDifficulty: integer(env, 'SESAME_CAPTCHA_DIFFICULTY', 50_000, 10, 10_000_000),
    hashConcurrency: integer(env, 'SESAME_HASH_CONCURRENCY', 4, 1, 64),
    hashQueue: integer(env, 'SESAME_HASH_QUEUE', 64, 0, 10_000),
    logLevel: oneOf(env, 'SESAME_LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    secondFactorRoles: roleList(env, 'SESAME_2FA_ROLES', 'admin,patient-data'),
    secondFactorRequired: oneOf(env, 'SESAME_2FA_REQUIRED', 'roles', ['roles', 'all'] as const),
    otpTtlMs: duration(env, 'SESAME_OTP_TTL', '5m'),
    otpResendCooldownMs: duration(env, 'SESAME_OTP_RESEND_COOLDOWN', '60s'),
    otpSendsPerHourPerUser: integer(env, 'SESAME_OTP_SENDS_PER_HOUR', 10, 1, 1000),
    otpSendsPerHourPerIp: integer(env, 'SESAME_OTP_SENDS_PER_HOUR_PER_IP', 100, 1, 100_000),
    smsPerHourPerNumber: integer(env, 'SESAME_SMS_PER_HOUR_PER_NUMBER', 5, 1, 1000),
    loginChallengeTtlMs: duration(env, 'SESAME_LOGIN_CHALLENGE_TTL', '15m'),
    trustedBrowserTtlMs: duration(env, 'SESAME_TRUSTED_BROWSER_TTL', '24h'),
    smsUrl: sms?.toString(),
    smsToken: env.SESAME_SMS_TOKEN?.trim() || undefined,
    devSms: !sms && !production,
    invitationTtlMs: duration(env, 'SESAME_INVITATION_TTL', '7d'),
    auditRetentionMs: duration(env, 'SESAME_AUDIT_RETENTION', '365d', 86_400_000),
    newBrowserMail: boolean(env, 'SESAME_NEW_BROWSER_MAIL', true),
  };
}
