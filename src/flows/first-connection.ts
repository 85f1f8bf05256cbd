import type { Context } from '../context.ts';
import { normalisePassword } from '../domain/password-policy.ts';
import { passwordChangedMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import { createSession, endAllSessions } from '../store/sessions.ts';
import type { User } from '../store/schema.ts';
import { storePassword } from '../store/users.ts';
import { inTransaction, queueMail, type Outcome } from './common.ts';
import { tooLong, validateNewPassword, NEW_PASSWORD_FIELD } from './new-password.ts';

/**
 * « Première connexion »: the temporary password opened a session limited to this page; the chosen
 * password replaces it, and that limited session is swapped for a full one (new token).
 */
export async function completeFirstConnection(
  ctx: Context,
  user: User,
  password: string,
  confirmation: string,
  origin: Origin,
): Promise<Outcome<{ token: string }>> {
  if (tooLong(password)) return { ok: false, errors: [{ field: NEW_PASSWORD_FIELD, code: 'max-length' }] };
  const errors = await validateNewPassword(ctx, user, password, confirmation);
  if (errors.length > 0) return { ok: false, errors };
  const hash = await ctx.hasher.hash(normalisePassword(password));
  const now = ctx.clock.now();
  const { config } = ctx;
  const session = await inTransaction(ctx, async (trx) => {
    await storePassword(trx, user.id, hash, now, { temporaryUntil: null, keep: config.passwordHistory });
    await endAllSessions(trx, user.id);
    const created = await createSession(trx, user.id, 'full', origin, now, { idleMs: config.sessionIdleTtlMs, maxMs: config.sessionMaxTtlMs });
    await audit(trx, now, { type: 'password.changed', userId: user.id, origin, details: { via: 'first-connection' } });
    await queueMail(ctx, trx, user.email, passwordChangedMail(ctx.brand), now);
    return created;
  });
  return { ok: true, token: session.token };
}
