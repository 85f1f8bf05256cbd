import type { Context } from '../context.ts';
import { guessLocks } from '../domain/lockout.ts';
import { MAX_PASSWORD_LENGTH, normalisePassword, passwordLength } from '../domain/password-policy.ts';
import { accountLockedMail, passwordChangedMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import { createSession, endAllSessions } from '../store/sessions.ts';
import type { Session, User } from '../store/schema.ts';
import { releaseGuess, reserveGuess, storePassword } from '../store/users.ts';
import { revokeTrustedBrowsers } from './second-factor.ts';
import { inTransaction, queueMail, type Outcome } from './common.ts';
import { tooLong, validateNewPassword, NEW_PASSWORD_FIELD } from './new-password.ts';

export const CURRENT_PASSWORD_FIELD = 'ancien_mot_de_passe';

/**
 * « Mon compte → Changer mon mot de passe ». The current password is a guess like any other: it counts
 * towards the lockout, so a stolen session cannot be used to brute-force it. The session in use gets a
 * new token; « Se déconnecter des autres appareils » ends every other one.
 */
export async function changePassword(
  ctx: Context,
  user: User,
  session: Session,
  input: { current: string; password: string; confirmation: string; endOthers: boolean },
  origin: Origin,
): Promise<Outcome<{ token: string; endedOthers: number }> | { ok: false; locked: true; errors: [] }> {
  const { config, hasher } = ctx;
  if (!input.current || passwordLength(input.current) > MAX_PASSWORD_LENGTH || !user.password_hash) {
    return { ok: false, errors: [{ field: CURRENT_PASSWORD_FIELD, code: input.current ? 'wrong-current' : 'required' }] };
  }
  if (tooLong(input.password)) return { ok: false, errors: [{ field: NEW_PASSWORD_FIELD, code: 'max-length' }] };
  const now = ctx.clock.now();
  const count = await reserveGuess(ctx.db, user.id, config.lockoutThreshold);
  let right = false;
  if (count !== undefined) {
    try {
      right = await hasher.verify(user.password_hash, normalisePassword(input.current));
    } catch (err) {
      await releaseGuess(ctx.db, user.id); // turned away by a busy hasher: nothing was checked
      throw err;
    }
  }
  if (!right) {
    const locks = count !== undefined && guessLocks(count, { threshold: config.lockoutThreshold });
    await inTransaction(ctx, async (trx) => {
      await audit(trx, now, { type: 'login.failure', userId: user.id, origin, details: { reason: 'wrong-current-password', during: 'password-change' } });
      if (locks) {
        await trx.updateTable('users').set({ locked_at: now, updated_at: now }).where('id', '=', user.id).execute();
        await endAllSessions(trx, user.id);
        await audit(trx, now, { type: 'account.locked', userId: user.id, origin, details: { failures: count } });
        await queueMail(ctx, trx, user.email, accountLockedMail(ctx.brand, user.display_name, count!), now);
      }
    });
    if (locks || count === undefined) return { ok: false, locked: true, errors: [] };
    return { ok: false, errors: [{ field: CURRENT_PASSWORD_FIELD, code: 'wrong-current' }] };
  }
  await ctx.db.updateTable('users').set({ failed_count: 0 }).where('id', '=', user.id).execute();
  const errors = await validateNewPassword(ctx, user, input.password, input.confirmation);
  if (errors.length > 0) return { ok: false, errors };
  const hash = await hasher.hash(normalisePassword(input.password));
  const result = await inTransaction(ctx, async (trx) => {
    await storePassword(trx, user.id, hash, now, { temporaryUntil: null, keep: config.passwordHistory });
    // The current session continues under a new token; the old one stops working.
    await trx.deleteFrom('sessions').where('id', '=', session.id).execute();
    const created = await createSession(trx, user.id, 'full', origin, now, { idleMs: config.sessionIdleTtlMs, maxMs: config.sessionMaxTtlMs });
    const endedOthers = input.endOthers ? await endAllSessions(trx, user.id, created.id) : 0;
    await revokeTrustedBrowsers(trx, user.id, origin, now, 'password-changed');
    await audit(trx, now, { type: 'password.changed', userId: user.id, origin, details: { via: 'account', endedOthers } });
    if (input.endOthers) await audit(trx, now, { type: 'sessions.ended.others', userId: user.id, origin, details: { count: endedOthers } });
    await queueMail(ctx, trx, user.email, passwordChangedMail(ctx.brand), now);
    return { token: created.token, endedOthers };
  });
  return { ok: true, ...result };
}
