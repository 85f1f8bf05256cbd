import type { Context } from '../context.ts';
import { normalisePassword } from '../domain/password-policy.ts';
import { passwordChangedMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import { createSession, endAllSessions } from '../store/sessions.ts';
import type { Session, User } from '../store/schema.ts';
import { storePassword } from '../store/users.ts';
import { reauthenticate } from './reauthenticate.ts';
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
  if (tooLong(input.password)) return { ok: false, errors: [{ field: NEW_PASSWORD_FIELD, code: 'max-length' }] };
  const reauth = await reauthenticate(ctx, user, input.current, origin, { field: CURRENT_PASSWORD_FIELD, during: 'password-change' });
  if (!reauth.ok) return reauth.locked ? { ok: false, locked: true, errors: [] } : { ok: false, errors: reauth.errors };
  const now = ctx.clock.now();
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
