import type { Context } from '../context.ts';
import { addMs } from '../domain/clock.ts';
import { maskPhone } from '../domain/masking.ts';
import { hashOtp, newOtpCode, otpMatches } from '../domain/otp.ts';
import { normaliseMobile } from '../domain/phone.ts';
import { phoneCodeSms, securityNoticeMail } from '../notify/mails.ts';
import { enqueueSms } from '../notify/outbox.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { User } from '../store/schema.ts';
import { inTransaction, queueMail, type FieldError } from './common.ts';
import { REAUTH_FIELD, reauthenticate } from './reauthenticate.ts';
import { pepper, revokeTrustedBrowsers } from './second-factor.ts';

/**
 * « Téléphone de secours » (seeds 003 and 004): a mobile number, in E.164, that second-factor codes may
 * be sent to. A new number waits in phone_verifications until the code sent to it by SMS comes back;
 * only then does it replace users.backup_phone. Changing or removing it asks the current password,
 * which counts towards the lockout like any other guess; each change ends the trusted browsers, is
 * audited and announced by mail.
 */
export const PHONE_FIELD = 'telephone';
export const CURRENT_FIELD = REAUTH_FIELD;
export const MAX_PHONE_CODE_FAILURES = 5;

type Locked = { ok: false; locked: true; errors: [] };
type Refused = { ok: false; errors: FieldError[] };

export type SendRefusal =
  | { reason: 'cooldown'; waitMs: number }
  | { reason: 'user-cap' | 'ip-cap' | 'number-cap' };

export type RequestOutcome =
  | { ok: true; status: 'code-sent' | 'code-pending' | 'unchanged' | 'removed' }
  | { ok: false; refused: SendRefusal; errors: [] }
  | Refused
  | Locked;

/** The code of a pending number is bound to the user and that number: it confirms nothing else. */
const bindTo = (userId: string, e164: string) => `phone:${userId}:${e164}`;

/** The current password, as a guess that counts towards the lockout (see reauthenticate). */
async function checkCurrentPassword(ctx: Context, user: User, current: string, origin: Origin, during: string): Promise<'ok' | Refused | Locked> {
  const outcome = await reauthenticate(ctx, user, current, origin, { field: CURRENT_FIELD, during });
  if (outcome.ok) return 'ok';
  return outcome.locked ? outcome : { ok: false, errors: outcome.errors };
}

export async function pendingPhone(ctx: Context, userId: string) {
  return ctx.db.selectFrom('phone_verifications').selectAll().where('user_id', '=', userId).executeTakeFirst();
}

/**
 * The caps of the second factor's codes, shared through otp_sends: per user, per address and, against
 * SMS pumping, per phone number — whoever asks for that number.
 */
async function sendRefusal(ctx: Context, userId: string, e164: string, origin: Origin, now: Date): Promise<SendRefusal | undefined> {
  const { config } = ctx;
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const count = async (column: 'user_id' | 'ip' | 'recipient', value: string) => Number((await ctx.db.selectFrom('otp_sends')
    .select((eb) => eb.fn.countAll<string>().as('n')).where(column, '=', value).where('at', '>', hourAgo).executeTakeFirstOrThrow()).n);
  if (await count('recipient', e164) >= config.smsPerHourPerNumber) return { reason: 'number-cap' };
  if (await count('user_id', userId) >= config.otpSendsPerHourPerUser) return { reason: 'user-cap' };
  if (await count('ip', origin.ip) >= config.otpSendsPerHourPerIp) return { reason: 'ip-cap' };
  return undefined;
}

/** Sends a new code to the number, replacing any pending one; a resend to the same number keeps its failures. */
async function sendPhoneCode(ctx: Context, user: User, e164: string, origin: Origin, now: Date): Promise<SendRefusal | undefined> {
  const { config } = ctx;
  const pending = await pendingPhone(ctx, user.id);
  const samePending = pending?.phone === e164;
  if (samePending && now.getTime() - pending.created_at.getTime() < config.otpResendCooldownMs) {
    return { reason: 'cooldown', waitMs: config.otpResendCooldownMs - (now.getTime() - pending.created_at.getTime()) };
  }
  const refusal = await sendRefusal(ctx, user.id, e164, origin, now);
  if (refusal) return refusal;
  const code = newOtpCode();
  const codeHash = hashOtp(await pepper(ctx), bindTo(user.id, e164), code);
  const expiresAt = addMs(now, config.otpTtlMs);
  await ctx.db.transaction().execute(async (trx) => {
    await trx.insertInto('phone_verifications')
      .values({ user_id: user.id, phone: e164, code_hash: codeHash, created_at: now, expires_at: expiresAt, failures: 0 })
      .onConflict((oc) => oc.column('user_id').doUpdateSet({
        phone: e164,
        code_hash: codeHash,
        created_at: now,
        expires_at: expiresAt,
        ...(samePending ? {} : { failures: 0 }),
      }))
      .execute();
    await enqueueSms(trx, e164, phoneCodeSms(ctx.brand, code, config.otpTtlMs), now);
    await trx.insertInto('otp_sends').values({ at: now, user_id: user.id, ip: origin.ip.slice(0, 64), channel: 'sms', recipient: e164 }).execute();
    // The number is masked and the code never written: the audit log is read by the support.
    await audit(trx, now, { type: 'backup-phone.code.sent', userId: user.id, origin, details: { phone: maskPhone(e164), resend: samePending } });
  });
  ctx.outbox.wake();
  return undefined;
}

/**
 * « Mettre à jour » on the record: a mobile number and the current password. A new number gets a code
 * by SMS and waits for it; the same verified number changes nothing; an empty field removes the phone.
 */
export async function requestPhoneChange(
  ctx: Context,
  user: User,
  input: { phone: string; current: string },
  origin: Origin,
): Promise<RequestOutcome> {
  const raw = input.phone.trim();
  if (!raw) {
    const pending = await pendingPhone(ctx, user.id);
    if (!user.backup_phone && !pending) return { ok: false, errors: [{ field: PHONE_FIELD, code: 'required' }] };
    const removed = await removePhone(ctx, user, input.current, origin);
    return removed.ok ? { ok: true, status: 'removed' } : removed;
  }
  const normalised = normaliseMobile(raw);
  if (!normalised.ok) return { ok: false, errors: [{ field: PHONE_FIELD, code: normalised.problem }] };
  const checked = await checkCurrentPassword(ctx, user, input.current, origin, 'backup-phone-change');
  if (checked !== 'ok') return checked;
  const now = ctx.clock.now();
  const { e164 } = normalised;
  if (user.backup_phone === e164 && user.backup_phone_verified_at) {
    // Typing the number in use again withdraws any other number waiting for its code.
    await ctx.db.deleteFrom('phone_verifications').where('user_id', '=', user.id).execute();
    return { ok: true, status: 'unchanged' };
  }
  const refusal = await sendPhoneCode(ctx, user, e164, origin, now);
  if (refusal?.reason === 'cooldown') return { ok: true, status: 'code-pending' };
  if (refusal) return { ok: false, refused: refusal, errors: [] };
  return { ok: true, status: 'code-sent' };
}

/** « Renvoyer le code »: a new code to the pending number, within the cooldown and the caps. */
export async function resendPhoneCode(ctx: Context, user: User, origin: Origin): Promise<{ ok: true } | { ok: false; reason: 'no-pending' } | ({ ok: false } & SendRefusal)> {
  const pending = await pendingPhone(ctx, user.id);
  if (!pending) return { ok: false, reason: 'no-pending' };
  const refusal = await sendPhoneCode(ctx, user, pending.phone, origin, ctx.clock.now());
  return refusal ? { ok: false, ...refusal } : { ok: true };
}

export type ConfirmOutcome =
  | { ok: true; phone: string }
  | { ok: false; reason: 'no-pending' | 'over' }
  | { ok: false; reason: 'wrong' | 'code-expired'; left: number };

/**
 * The code received by SMS. Each guess is reserved before it is checked, so parallel guesses never
 * exceed MAX_PHONE_CODE_FAILURES; the fifth wrong one withdraws the pending number.
 */
export async function confirmPhone(ctx: Context, user: User, code: string, origin: Origin): Promise<ConfirmOutcome> {
  const pending = await pendingPhone(ctx, user.id);
  if (!pending) return { ok: false, reason: 'no-pending' };
  const now = ctx.clock.now();
  const reserved = await ctx.db.updateTable('phone_verifications')
    .set((eb) => ({ failures: eb('failures', '+', 1) }))
    .where('user_id', '=', user.id).where('phone', '=', pending.phone).where('code_hash', '=', pending.code_hash)
    .where('failures', '<', MAX_PHONE_CODE_FAILURES)
    .returning('failures').executeTakeFirst();
  if (!reserved) {
    await withdraw(ctx, user.id, pending.code_hash);
    return { ok: false, reason: 'over' };
  }
  const matches = otpMatches(await pepper(ctx), bindTo(user.id, pending.phone), code, pending.code_hash);
  if (!matches || now >= pending.expires_at) {
    if (reserved.failures >= MAX_PHONE_CODE_FAILURES) {
      await withdraw(ctx, user.id, pending.code_hash);
      return { ok: false, reason: 'over' };
    }
    const left = MAX_PHONE_CODE_FAILURES - reserved.failures;
    return { ok: false, reason: matches ? 'code-expired' : 'wrong', left };
  }
  const done = await inTransaction(ctx, async (trx) => {
    const consumed = await trx.deleteFrom('phone_verifications')
      .where('user_id', '=', user.id).where('code_hash', '=', pending.code_hash).returning('user_id').executeTakeFirst();
    if (!consumed) return false;
    const previous = await trx.selectFrom('users').select(['backup_phone', 'backup_phone_verified_at']).where('id', '=', user.id).executeTakeFirstOrThrow();
    const hadPhone = Boolean(previous.backup_phone && previous.backup_phone_verified_at);
    await trx.updateTable('users').set({ backup_phone: pending.phone, backup_phone_verified_at: now, updated_at: now }).where('id', '=', user.id).execute();
    await revokeTrustedBrowsers(trx, user.id, origin, now, 'backup-phone-changed');
    await audit(trx, now, {
      type: 'backup-phone.changed',
      userId: user.id,
      origin,
      details: { phone: maskPhone(pending.phone), previous: hadPhone ? maskPhone(previous.backup_phone!) : null },
    });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name, hadPhone
      ? `Le téléphone de secours de votre compte a été remplacé par le ${maskPhone(pending.phone)}. Vos codes de connexion peuvent désormais vous être envoyés par SMS à ce numéro. Les navigateurs de confiance de votre compte ont été révoqués.`
      : `Le téléphone de secours ${maskPhone(pending.phone)} a été ajouté à votre compte. Vos codes de connexion peuvent désormais vous être envoyés par SMS à ce numéro. Les navigateurs de confiance de votre compte ont été révoqués.`), now);
    return true;
  });
  return done ? { ok: true, phone: pending.phone } : { ok: false, reason: 'no-pending' };
}

async function withdraw(ctx: Context, userId: string, codeHash: string): Promise<void> {
  await ctx.db.deleteFrom('phone_verifications').where('user_id', '=', userId).where('code_hash', '=', codeHash).execute();
}

/**
 * Removes the backup phone (and any number waiting for its code) after the current password: codes go
 * by e-mail again, trusted browsers end, a notice is mailed.
 */
export async function removePhone(ctx: Context, user: User, current: string, origin: Origin): Promise<{ ok: true } | Refused | Locked> {
  const checked = await checkCurrentPassword(ctx, user, current, origin, 'backup-phone-removal');
  if (checked !== 'ok') return checked;
  const now = ctx.clock.now();
  await inTransaction(ctx, async (trx) => {
    await trx.deleteFrom('phone_verifications').where('user_id', '=', user.id).execute();
    const previous = await trx.updateTable('users')
      .set({ backup_phone: null, backup_phone_verified_at: null, updated_at: now })
      .where('id', '=', user.id).where('backup_phone', 'is not', null)
      .returning('id').executeTakeFirst();
    if (!previous) return; // only a number waiting for its code: withdrawn, nothing else changes
    const masked = user.backup_phone ? maskPhone(user.backup_phone) : null;
    await revokeTrustedBrowsers(trx, user.id, origin, now, 'backup-phone-removed');
    await audit(trx, now, { type: 'backup-phone.removed', userId: user.id, origin, details: { phone: masked } });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name,
      `Le téléphone de secours${masked ? ` ${masked}` : ''} a été retiré de votre compte : vos codes de connexion ne vous seront plus envoyés par SMS. Les navigateurs de confiance de votre compte ont été révoqués.`), now);
  });
  return { ok: true };
}

/** Whether the last code sent to the pending number is stuck in the outbox (the SMS gateway is failing). */
export async function phoneCodeDeliveryFailing(ctx: Context, pending: { phone: string; created_at: Date }): Promise<boolean> {
  const row = await ctx.db.selectFrom('outbox').select(['sent_at', 'last_error'])
    .where('channel', '=', 'sms').where('recipient', '=', pending.phone).where('created_at', '=', pending.created_at)
    .orderBy('id', 'desc').limit(1).executeTakeFirst();
  return Boolean(row && !row.sent_at && row.last_error);
}
