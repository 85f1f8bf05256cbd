import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { browserFamily } from '../domain/browser-family.ts';
import { addMs } from '../domain/clock.ts';
import { hashOtp, newOtpCode, otpMatches } from '../domain/otp.ts';
import { hashToken, isTokenShaped, newToken } from '../domain/tokens.ts';
import { otpMail, otpSms } from '../notify/mails.ts';
import { enqueueSms } from '../notify/outbox.ts';
import { renderMail } from '../notify/render.ts';
import { enqueueMail } from '../notify/outbox.ts';
import { audit, type Origin } from '../store/audit.ts';
import { effectiveRoles } from './establishments.ts';
import type { Database, LoginChallenge, SecondFactorMethod, User } from '../store/schema.ts';
import { cachedSecret } from '../store/secrets.ts';
import { createSession } from '../store/sessions.ts';
import { inTransaction } from './common.ts';
import { noteBrowserAtSignIn } from './known-browsers.ts';

/**
 * The second factor of seeds 003 and 004: after the password, holders of privileged roles (or everyone,
 * with SESAME_2FA_REQUIRED=all) enter a one-time code. Until then there is no session, only a
 * "login challenge" bound to this browser by its own cookie, which carries the attempt's limits:
 * 5 wrong codes end it (a new code does not reset the count), codes live SESAME_OTP_TTL, resends wait
 * a cooldown and are capped per user, per address and per phone number.
 */
export const MAX_CODE_FAILURES = 5;
const PEPPER_KEY = 'otp.pepper';

const peppers = new WeakMap<object, () => Promise<string>>();
export async function pepper(ctx: Context): Promise<Buffer> {
  let get = peppers.get(ctx.db);
  if (!get) {
    get = cachedSecret(ctx.db, PEPPER_KEY);
    peppers.set(ctx.db, get);
  }
  return Buffer.from(await get(), 'hex');
}

/** The platform's own staff always pass a second factor, whatever SESAME_2FA_ROLES says. */
const ALWAYS_SECOND_FACTOR = ['platform-admin', 'support'];

/**
 * Whether this user must pass a second factor: everyone with SESAME_2FA_REQUIRED=all; otherwise holders
 * of a role in SESAME_2FA_ROLES, globally or as a right in any establishment, and the platform's staff.
 */
export async function requiresSecondFactor(ctx: Context, user: Pick<User, 'id' | 'roles'>): Promise<boolean> {
  if (ctx.config.secondFactorRequired === 'all') return true;
  const roles = await effectiveRoles(ctx.db, user);
  return roles.some((r) => ctx.config.secondFactorRoles.includes(r) || ALWAYS_SECOND_FACTOR.includes(r));
}

/** The methods a user can pass the second factor with, e-mail first as in the seeds. */
export async function methodsOf(db: Kysely<Database>, user: User): Promise<SecondFactorMethod[]> {
  const methods: SecondFactorMethod[] = ['email'];
  if (user.backup_phone && user.backup_phone_verified_at) methods.push('sms');
  const [totp, keys, codes] = await Promise.all([
    db.selectFrom('totp_credentials').select('user_id').where('user_id', '=', user.id).where('confirmed_at', 'is not', null).executeTakeFirst(),
    db.selectFrom('webauthn_credentials').select('id').where('user_id', '=', user.id).limit(1).executeTakeFirst(),
    db.selectFrom('recovery_codes').select('id').where('user_id', '=', user.id).where('used_at', 'is', null).limit(1).executeTakeFirst(),
  ]);
  if (totp) methods.push('totp');
  if (keys) methods.push('webauthn');
  if (codes) methods.push('recovery');
  return methods;
}

/** Opens the challenge inside the sign-in's transaction; the token goes in the challenge cookie. */
export async function openChallenge(
  ctx: Context,
  trx: Kysely<Database>,
  user: User,
  scope: 'full' | 'password-change',
  origin: Origin,
  now: Date,
): Promise<string> {
  const token = newToken();
  await trx.insertInto('login_challenges').values({
    id: randomUUID(),
    token_hash: hashToken(token),
    user_id: user.id,
    scope,
    created_at: now,
    expires_at: addMs(now, ctx.config.loginChallengeTtlMs),
    ip: origin.ip.slice(0, 64),
    user_agent: origin.userAgent.slice(0, 512),
  }).execute();
  await audit(trx, now, { type: 'second-factor.required', userId: user.id, origin });
  return token;
}

export interface OpenChallenge {
  challenge: LoginChallenge;
  user: User;
  methods: SecondFactorMethod[];
}

export async function loadChallenge(ctx: Context, token: string | undefined): Promise<OpenChallenge | undefined> {
  if (!isTokenShaped(token)) return undefined;
  const now = ctx.clock.now();
  const challenge = await ctx.db.selectFrom('login_challenges').selectAll()
    .where('token_hash', '=', hashToken(token)).where('expires_at', '>', now).executeTakeFirst();
  if (!challenge) return undefined;
  const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', challenge.user_id).executeTakeFirst();
  if (!user || user.disabled_at || user.locked_at) return undefined;
  return { challenge, user, methods: await methodsOf(ctx.db, user) };
}

export type SendOutcome =
  | { ok: true }
  | { ok: false; reason: 'cooldown'; waitMs: number }
  | { ok: false; reason: 'user-cap' | 'ip-cap' | 'number-cap' | 'no-phone' };

/** Sends a code by e-mail or SMS for this challenge; the failure count of the attempt is kept. */
export async function sendCode(ctx: Context, open: OpenChallenge, channel: 'email' | 'sms', origin: Origin): Promise<SendOutcome> {
  const { challenge, user } = open;
  const { config } = ctx;
  const now = ctx.clock.now();
  if (challenge.code_sent_at && now.getTime() - challenge.code_sent_at.getTime() < config.otpResendCooldownMs) {
    return { ok: false, reason: 'cooldown', waitMs: config.otpResendCooldownMs - (now.getTime() - challenge.code_sent_at.getTime()) };
  }
  const phone = user.backup_phone_verified_at ? user.backup_phone : null;
  if (channel === 'sms' && !phone) return { ok: false, reason: 'no-phone' };
  const recipient = channel === 'sms' ? phone! : user.email;
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const count = async (column: 'user_id' | 'ip' | 'recipient', value: string) => Number((await ctx.db.selectFrom('otp_sends')
    .select((eb) => eb.fn.countAll<string>().as('n')).where(column, '=', value).where('at', '>', hourAgo).executeTakeFirstOrThrow()).n);
  if (await count('user_id', user.id) >= config.otpSendsPerHourPerUser) return { ok: false, reason: 'user-cap' };
  if (await count('ip', origin.ip) >= config.otpSendsPerHourPerIp) return { ok: false, reason: 'ip-cap' };
  if (channel === 'sms' && await count('recipient', recipient) >= config.smsPerHourPerNumber) return { ok: false, reason: 'number-cap' };

  const code = newOtpCode();
  const codeHash = hashOtp(await pepper(ctx), challenge.id, code);
  await ctx.db.transaction().execute(async (trx) => {
    const outboxId = channel === 'sms'
      ? await enqueueSms(trx, recipient, otpSms(ctx.brand, code, config.otpTtlMs), now)
      : await enqueueMail(trx, recipient, renderMail(otpMail(ctx.brand, user.display_name, code, config.otpTtlMs), ctx.brand), now);
    await trx.updateTable('login_challenges').set((eb) => ({
      method: channel,
      code_hash: codeHash,
      code_expires_at: addMs(now, config.otpTtlMs),
      code_sent_at: now,
      code_outbox_id: outboxId,
      sends: eb('sends', '+', 1),
    })).where('id', '=', challenge.id).execute();
    await trx.insertInto('otp_sends').values({ at: now, user_id: user.id, ip: origin.ip.slice(0, 64), channel, recipient }).execute();
    await audit(trx, now, { type: 'second-factor.code.sent', userId: user.id, origin, details: { channel, resend: challenge.sends > 0 } });
  });
  ctx.outbox.wake();
  return { ok: true };
}

/** Chooses how to pass: e-mail and SMS send a code now; the other methods wait for their answer. */
export async function chooseMethod(ctx: Context, open: OpenChallenge, method: SecondFactorMethod, origin: Origin): Promise<SendOutcome | { ok: false; reason: 'unavailable' }> {
  if (!open.methods.includes(method)) return { ok: false, reason: 'unavailable' };
  if (method === 'email' || method === 'sms') {
    if (open.challenge.method === method && open.challenge.code_sent_at) return { ok: true };
    return sendCode(ctx, { ...open, challenge: { ...open.challenge, code_sent_at: open.challenge.method === method ? open.challenge.code_sent_at : null } }, method, origin);
  }
  // A code sent earlier in this attempt stops working: what passes must be the method now chosen.
  await ctx.db.updateTable('login_challenges').set({ method, code_hash: null, code_expires_at: null })
    .where('id', '=', open.challenge.id).execute();
  return { ok: true };
}

export type VerifyOutcome =
  | { ok: true; sessionToken: string; scope: 'full' | 'password-change'; trustToken?: string; deviceToken?: string }
  | { ok: false; reason: 'wrong'; left: number }
  | { ok: false; reason: 'code-expired'; left: number }
  | { ok: false; reason: 'over' };

/**
 * One guess at the second factor. The guess is reserved before it is checked (like the password
 * lockout), so parallel guesses can never exceed MAX_CODE_FAILURES. `check` says whether the answer is
 * right for the chosen method; it runs only after the reservation.
 */
export async function guess(
  ctx: Context,
  open: OpenChallenge,
  check: () => Promise<boolean | 'expired'>,
  trust: boolean,
  origin: Origin,
  deviceToken?: string,
): Promise<VerifyOutcome> {
  const { challenge, user } = open;
  const now = ctx.clock.now();
  const reserved = await ctx.db.updateTable('login_challenges')
    .set((eb) => ({ failures: eb('failures', '+', 1) }))
    .where('id', '=', challenge.id).where('failures', '<', MAX_CODE_FAILURES)
    .returning('failures').executeTakeFirst();
  if (!reserved) return endChallenge(ctx, open, origin, now);
  const verdict = await check();
  if (verdict !== true) {
    await audit(ctx.db, now, { type: 'second-factor.failure', userId: user.id, origin, details: { method: challenge.method, reason: verdict === 'expired' ? 'code-expired' : 'wrong' } });
    if (reserved.failures >= MAX_CODE_FAILURES) return endChallenge(ctx, open, origin, now);
    const left = MAX_CODE_FAILURES - reserved.failures;
    return verdict === 'expired' ? { ok: false, reason: 'code-expired', left } : { ok: false, reason: 'wrong', left };
  }
  const { config } = ctx;
  return inTransaction(ctx, async (trx): Promise<VerifyOutcome> => {
    const consumed = await trx.deleteFrom('login_challenges').where('id', '=', challenge.id).returning('id').executeTakeFirst();
    if (!consumed) return { ok: false as const, reason: 'over' as const };
    const method = challenge.method ?? 'email';
    const session = await createSession(trx, user.id, challenge.scope, origin, now, { idleMs: config.sessionIdleTtlMs, maxMs: config.sessionMaxTtlMs }, method);
    await audit(trx, now, { type: 'second-factor.success', userId: user.id, origin, details: { method } });
    await audit(trx, now, { type: 'login.success', userId: user.id, origin, details: { scope: challenge.scope, secondFactor: method } });
    const trustToken = trust ? await trustBrowser(ctx, trx, user.id, origin, now) : undefined;
    const device = await noteBrowserAtSignIn(ctx, trx, user, deviceToken, origin, now);
    return { ok: true as const, sessionToken: session.token, scope: challenge.scope, ...(trustToken ? { trustToken } : {}), ...(device.deviceToken ? { deviceToken: device.deviceToken } : {}) };
  });
}

async function endChallenge(ctx: Context, open: OpenChallenge, origin: Origin, now: Date): Promise<VerifyOutcome> {
  const ended = await ctx.db.deleteFrom('login_challenges').where('id', '=', open.challenge.id).returning('id').executeTakeFirst();
  if (ended) await audit(ctx.db, now, { type: 'second-factor.abandoned', userId: open.user.id, origin, details: { reason: 'too-many-failures' } });
  return { ok: false, reason: 'over' };
}

/** Checks an e-mailed or SMS code against the challenge it was sent for. */
export function codeCheck(ctx: Context, open: OpenChallenge, code: string | undefined): () => Promise<boolean | 'expired'> {
  return async () => {
    const { challenge } = open;
    if (!code || !challenge.code_hash || !challenge.code_expires_at) return false;
    if (!otpMatches(await pepper(ctx), challenge.id, code, challenge.code_hash)) return false;
    return ctx.clock.now() < challenge.code_expires_at ? true : 'expired';
  };
}

/** Whether the last code of the challenge is stuck in the outbox (the SMS gateway is failing, say). */
export async function codeDeliveryFailing(ctx: Context, challenge: LoginChallenge): Promise<boolean> {
  if (!challenge.code_outbox_id) return false;
  const row = await ctx.db.selectFrom('outbox').select(['sent_at', 'last_error'])
    .where('id', '=', challenge.code_outbox_id).executeTakeFirst();
  return Boolean(row && !row.sent_at && row.last_error);
}

// ——— Trusted browsers (« Enregistrer la double authentification pendant 24h ») ———

async function trustBrowser(ctx: Context, trx: Kysely<Database>, userId: string, origin: Origin, now: Date): Promise<string> {
  const token = newToken();
  await trx.insertInto('trusted_browsers').values({
    token_hash: hashToken(token),
    id: randomUUID(),
    user_id: userId,
    family: browserFamily(origin.userAgent),
    user_agent: origin.userAgent.slice(0, 512),
    created_at: now,
    expires_at: addMs(now, ctx.config.trustedBrowserTtlMs),
    last_used_at: now,
  }).execute();
  await audit(trx, now, { type: 'trusted-browser.added', userId, origin });
  return token;
}

/**
 * At a successful password, what the browser's trust cookie is worth: 'trusted' when it is this user's,
 * unexpired, for the same browser family; when it is another professional's, that trust is cancelled
 * (seed 004) and the cookie must be dropped.
 */
export async function trustAtSignIn(
  ctx: Context,
  trx: Kysely<Database>,
  token: string | undefined,
  userId: string,
  origin: Origin,
  now: Date,
): Promise<'trusted' | 'none' | 'drop-cookie'> {
  if (!isTokenShaped(token)) return token ? 'drop-cookie' : 'none';
  const row = await trx.selectFrom('trusted_browsers').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirst();
  if (!row) return 'drop-cookie';
  if (row.user_id !== userId) {
    await trx.deleteFrom('trusted_browsers').where('token_hash', '=', row.token_hash).execute();
    await audit(trx, now, { type: 'trusted-browser.revoked', userId: row.user_id, origin, details: { reason: 'another-user-signed-in' } });
    return 'drop-cookie';
  }
  if (row.expires_at <= now || row.family !== browserFamily(origin.userAgent)) {
    await trx.deleteFrom('trusted_browsers').where('token_hash', '=', row.token_hash).execute();
    return 'drop-cookie';
  }
  await trx.updateTable('trusted_browsers').set({ last_used_at: now }).where('token_hash', '=', row.token_hash).execute();
  return 'trusted';
}

/** Ends every trust of a user: password change or reset, new backup phone, « Révoquer … ». */
export async function revokeTrustedBrowsers(trx: Kysely<Database>, userId: string, origin: Origin, now: Date, reason: string): Promise<number> {
  const result = await trx.deleteFrom('trusted_browsers').where('user_id', '=', userId).executeTakeFirst();
  const count = Number(result.numDeletedRows ?? 0);
  if (count > 0) await audit(trx, now, { type: 'trusted-browser.revoked', userId, origin, details: { reason, count } });
  return count;
}

export async function listTrustedBrowsers(ctx: Context, userId: string) {
  return ctx.db.selectFrom('trusted_browsers').select(['id', 'user_agent', 'created_at', 'expires_at', 'last_used_at'])
    .where('user_id', '=', userId).where('expires_at', '>', ctx.clock.now()).orderBy('created_at', 'desc').execute();
}
