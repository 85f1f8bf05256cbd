import type { Context } from '../context.ts';
import { guessLocks } from '../domain/lockout.ts';
import { MAX_PASSWORD_LENGTH, normalisePassword, passwordLength } from '../domain/password-policy.ts';
import { accountLockedMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { User } from '../store/schema.ts';
import { endAllSessions } from '../store/sessions.ts';
import { releaseGuess, reserveGuess } from '../store/users.ts';
import { inTransaction, queueMail, type FieldError } from './common.ts';

/** The field « Mot de passe actuel » of the forms that change a security setting of « Mon compte ». */
export const REAUTH_FIELD = 'mot_de_passe_actuel';

export type ReauthOutcome =
  | { ok: true }
  /** The account is now locked (or was out of guesses): its sessions have ended. */
  | { ok: false; locked: true; errors: [] }
  | { ok: false; locked: false; errors: FieldError[] };

/**
 * Asks for the current password again before a security setting changes (second-factor methods,
 * backup phone…). The password is a guess like any other, as in « Changer mon mot de passe »: it is
 * reserved against the lockout before it is checked, so a stolen session cannot brute-force it; the
 * last wrong guess locks the account and ends its sessions. A right password clears the count.
 */
export async function reauthenticate(
  ctx: Context,
  user: User,
  password: string,
  origin: Origin,
  options: { field?: string; during?: string } = {},
): Promise<ReauthOutcome> {
  const { config, hasher } = ctx;
  const field = options.field ?? REAUTH_FIELD;
  const during = options.during ?? 'reauthentication';
  if (!password || passwordLength(password) > MAX_PASSWORD_LENGTH || !user.password_hash) {
    return { ok: false, locked: false, errors: [{ field, code: password ? 'wrong-current' : 'required' }] };
  }
  const now = ctx.clock.now();
  const count = await reserveGuess(ctx.db, user.id, config.lockoutThreshold);
  let right = false;
  if (count !== undefined) {
    try {
      right = await hasher.verify(user.password_hash, normalisePassword(password));
    } catch (err) {
      await releaseGuess(ctx.db, user.id); // turned away by a busy hasher: nothing was checked
      throw err;
    }
  }
  if (right) {
    await ctx.db.updateTable('users').set({ failed_count: 0 }).where('id', '=', user.id).execute();
    return { ok: true };
  }
  const locks = count !== undefined && guessLocks(count, { threshold: config.lockoutThreshold });
  await inTransaction(ctx, async (trx) => {
    await audit(trx, now, { type: 'login.failure', userId: user.id, origin, details: { reason: 'wrong-current-password', during } });
    if (locks) {
      await trx.updateTable('users').set({ locked_at: now, updated_at: now }).where('id', '=', user.id).execute();
      await endAllSessions(trx, user.id);
      await audit(trx, now, { type: 'account.locked', userId: user.id, origin, details: { failures: count } });
      await queueMail(ctx, trx, user.email, accountLockedMail(ctx.brand, user.display_name, count!), now);
    }
  });
  if (locks || count === undefined) return { ok: false, locked: true, errors: [] };
  return { ok: false, locked: false, errors: [{ field, code: 'wrong-current' }] };
}
