import type { Context } from '../context.ts';
import { audit, type Origin } from '../store/audit.ts';
import { endSessionByToken } from '../store/sessions.ts';

/** « Se déconnecter »: the session is deleted server-side, not merely forgotten by the browser. */
export async function logout(ctx: Context, token: string, origin: Origin): Promise<void> {
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    const ended = await endSessionByToken(trx, token);
    if (ended) await audit(trx, now, { type: 'session.ended', userId: ended.user_id, origin, details: { reason: 'logout' } });
  });
}

/** Ends one of the user's own sessions from « Mon compte »; someone else's session id does nothing. */
export async function endOwnSession(ctx: Context, userId: string, sessionId: string, origin: Origin): Promise<boolean> {
  if (!/^[0-9a-f-]{36}$/.test(sessionId)) return false;
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const ended = await trx.deleteFrom('sessions').where('id', '=', sessionId).where('user_id', '=', userId)
      .returning('id').executeTakeFirst();
    if (ended) await audit(trx, now, { type: 'session.ended', userId, origin, details: { reason: 'ended-from-account' } });
    return Boolean(ended);
  });
}
