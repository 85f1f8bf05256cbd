import type { Context } from '../context.ts';
import { addMs } from '../domain/clock.ts';
import { normalisePassword } from '../domain/password-policy.ts';
import { hashToken, isTokenShaped, newToken } from '../domain/tokens.ts';
import { passwordChangedMail, resetLinkMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import { endAllSessions } from '../store/sessions.ts';
import type { User } from '../store/schema.ts';
import { recordIpFailure } from '../store/throttle.ts';
import { findUserByIdentifier, storePassword } from '../store/users.ts';
import { revokeTrustedBrowsers } from './second-factor.ts';
import { inTransaction, queueMail, type Outcome } from './common.ts';
import { tooLong, validateNewPassword, NEW_PASSWORD_FIELD } from './new-password.ts';

/** At most this many reset mails per account and hour: the form cannot be used to flood a mailbox. */
export const RESET_MAILS_PER_HOUR = 5;

export function resetLink(ctx: Context, token: string): string {
  return new URL(`/reinitialisation/${token}`, ctx.config.publicUrl).toString();
}

/**
 * « Mot de passe oublié »: whatever the identifier, the caller shows the same answer. When it names a
 * usable account, older links are voided and a new single-use link is mailed.
 */
export async function requestPasswordReset(ctx: Context, identifier: string, origin: Origin): Promise<void> {
  const now = ctx.clock.now();
  const typed = identifier.trim().slice(0, 254);
  const user = typed ? await findUserByIdentifier(ctx.db, typed) : undefined;
  if (!user || user.disabled_at) {
    await recordIpFailure(ctx.db, origin.ip, now, ctx.config.ipFailureWindowMs);
    await audit(ctx.db, now, { type: 'password.reset.requested', userId: user?.id ?? null, subject: user ? null : typed, origin, details: { sent: false } });
    return;
  }
  const token = newToken();
  await inTransaction(ctx, async (trx) => {
    const lastHour = await trx.selectFrom('reset_tokens').select((eb) => eb.fn.countAll<string>().as('n'))
      .where('user_id', '=', user.id).where('created_at', '>', new Date(now.getTime() - 3_600_000)).executeTakeFirstOrThrow();
    if (Number(lastHour.n) >= RESET_MAILS_PER_HOUR) {
      await audit(trx, now, { type: 'password.reset.requested', userId: user.id, origin, details: { sent: false, reason: 'hourly-cap' } });
      return;
    }
    // A newer request voids every older link.
    await trx.updateTable('reset_tokens').set({ used_at: now })
      .where('user_id', '=', user.id).where('used_at', 'is', null).execute();
    await trx.insertInto('reset_tokens').values({
      token_hash: hashToken(token),
      user_id: user.id,
      created_at: now,
      expires_at: addMs(now, ctx.config.resetLinkTtlMs),
    }).execute();
    await audit(trx, now, { type: 'password.reset.requested', userId: user.id, origin, details: { sent: true } });
    await queueMail(ctx, trx, user.email, resetLinkMail(ctx.brand, user.display_name, user.login, resetLink(ctx, token), ctx.config.resetLinkTtlMs), now);
  });
}

export type ResetLinkState = { valid: true; user: User } | { valid: false };

/** Whether a link can still be used; the page says plainly when it cannot. */
export async function inspectResetLink(ctx: Context, token: string): Promise<ResetLinkState> {
  if (!isTokenShaped(token)) return { valid: false };
  const now = ctx.clock.now();
  const row = await ctx.db.selectFrom('reset_tokens')
    .innerJoin('users', 'users.id', 'reset_tokens.user_id')
    .selectAll('users')
    .where('reset_tokens.token_hash', '=', hashToken(token))
    .where('reset_tokens.used_at', 'is', null)
    .where('reset_tokens.expires_at', '>', now)
    .where('users.disabled_at', 'is', null)
    .executeTakeFirst();
  return row ? { valid: true, user: row } : { valid: false };
}

/**
 * Sets the new password from a link. The link is consumed atomically in the same transaction as the
 * change, so two parallel submissions cannot both succeed. Success ends every session of the user and
 * clears the lockout.
 */
export async function completePasswordReset(
  ctx: Context,
  token: string,
  password: string,
  confirmation: string,
  origin: Origin,
): Promise<Outcome<{ userId: string }> | { ok: false; linkInvalid: true; errors: [] }> {
  const state = await inspectResetLink(ctx, token);
  if (!state.valid) return { ok: false, linkInvalid: true, errors: [] };
  const { user } = state;
  if (tooLong(password)) return { ok: false, errors: [{ field: NEW_PASSWORD_FIELD, code: 'max-length' }] };
  const errors = await validateNewPassword(ctx, { ...user, temp_password_expires_at: null }, password, confirmation);
  if (errors.length > 0) return { ok: false, errors };
  const hash = await ctx.hasher.hash(normalisePassword(password));
  const now = ctx.clock.now();
  const done = await inTransaction(ctx, async (trx) => {
    const consumed = await trx.updateTable('reset_tokens').set({ used_at: now })
      .where('token_hash', '=', hashToken(token)).where('used_at', 'is', null).where('expires_at', '>', now)
      .returning('user_id').executeTakeFirst();
    if (!consumed) return false;
    await storePassword(trx, user.id, hash, now, { temporaryUntil: null, keep: ctx.config.passwordHistory });
    const wasLocked = user.locked_at !== null;
    await trx.updateTable('users').set({ failed_count: 0, locked_at: null }).where('id', '=', user.id).execute();
    const ended = await endAllSessions(trx, user.id);
    await revokeTrustedBrowsers(trx, user.id, origin, now, 'password-reset');
    await audit(trx, now, { type: 'password.reset', userId: user.id, origin, details: { sessionsEnded: ended, unlocked: wasLocked } });
    if (wasLocked) await audit(trx, now, { type: 'account.unlocked', userId: user.id, origin, details: { via: 'password-reset' } });
    await queueMail(ctx, trx, user.email, passwordChangedMail(ctx.brand), now);
    return true;
  });
  if (!done) return { ok: false, linkInvalid: true, errors: [] };
  return { ok: true, userId: user.id };
}
