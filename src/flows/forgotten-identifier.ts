import type { Context } from '../context.ts';
import { normaliseEmail } from '../domain/identifiers.ts';
import { identifierMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import { recordIpFailure } from '../store/throttle.ts';
import { inTransaction, queueMail } from './common.ts';
import { recordSupportRequest } from './support.ts';

export const REMINDERS_PER_HOUR = 3;

/** « Identifiant oublié ? »: the identifier goes to the address typed when it matches an account; same answer otherwise. */
export async function requestIdentifierReminder(ctx: Context, email: string, origin: Origin): Promise<void> {
  const now = ctx.clock.now();
  const address = normaliseEmail(email).slice(0, 254);
  const user = address
    ? await ctx.db.selectFrom('users').selectAll().where('email', '=', address).where('disabled_at', 'is', null).executeTakeFirst()
    : undefined;
  if (!user) {
    await recordIpFailure(ctx.db, origin.ip, now, ctx.config.ipFailureWindowMs);
    await inTransaction(ctx, async (trx) => {
      await audit(trx, now, { type: 'identifier.reminder.requested', subject: address, origin, details: { sent: false } });
      // The support desk sees every request, those for an unknown address first of all.
      await recordSupportRequest(trx, now, { kind: 'forgotten-identifier', email: address || null, userId: null, origin });
    });
    return;
  }
  await inTransaction(ctx, async (trx) => {
    await recordSupportRequest(trx, now, { kind: 'forgotten-identifier', email: address, userId: user.id, origin });
    // A cap per account and hour, so that the form cannot be used to flood someone's mailbox.
    const lastHour = await trx.selectFrom('audit_events').select((eb) => eb.fn.countAll<string>().as('n'))
      .where('user_id', '=', user.id).where('type', '=', 'identifier.reminder.requested')
      .where('at', '>', new Date(now.getTime() - 3_600_000)).executeTakeFirstOrThrow();
    if (Number(lastHour.n) >= REMINDERS_PER_HOUR) {
      await audit(trx, now, { type: 'identifier.reminder.requested', userId: user.id, origin, details: { sent: false, reason: 'hourly-cap' } });
      return;
    }
    await audit(trx, now, { type: 'identifier.reminder.requested', userId: user.id, origin, details: { sent: true } });
    await queueMail(ctx, trx, user.email, identifierMail(ctx.brand, user.display_name, user.login, 'reminder'), now);
  });
}
