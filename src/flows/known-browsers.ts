import type { Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { hashToken, isTokenShaped, newToken } from '../domain/tokens.ts';
import { newBrowserMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { Database, User } from '../store/schema.ts';
import { describeDevice, formatDate } from '../web/user-agent.ts';
import { queueMail } from './common.ts';

/**
 * « Mail à chaque connexion depuis un navigateur inconnu ». Each browser carries a long-lived random
 * device cookie (only its SHA-256 is stored, per user, in known_browsers). At every sign-in that creates
 * a session, a device this user has not seen before is recorded and announced by mail (when
 * SESAME_NEW_BROWSER_MAIL is on) and audited 'login.new-browser', in the sign-in's own transaction.
 *
 * Rule for the very first sign-in: when the account has no known browser at all (its first connection,
 * with the temporary password, or the first one since this feature exists), the device is recorded
 * silently: there is no earlier browser to compare with, so nothing to warn about.
 */
export interface KnownBrowserOutcome {
  /** A new device token to set in the cookie, when the browser had none (or an unusable one). */
  deviceToken?: string;
  /** Whether this sign-in was announced as coming from a new browser. */
  announced: boolean;
}

export async function noteBrowserAtSignIn(
  ctx: Context,
  trx: Kysely<Database>,
  user: Pick<User, 'id' | 'email' | 'display_name'>,
  deviceToken: string | undefined,
  origin: Origin,
  now: Date,
): Promise<KnownBrowserOutcome> {
  const fresh = isTokenShaped(deviceToken) ? undefined : newToken();
  const token = fresh ?? deviceToken!;
  const deviceHash = hashToken(token);
  const seen = await trx.updateTable('known_browsers').set({ last_seen_at: now, user_agent: origin.userAgent.slice(0, 512) })
    .where('user_id', '=', user.id).where('device_hash', '=', deviceHash).returning('user_id').executeTakeFirst();
  if (seen) return { announced: false, ...(fresh ? { deviceToken: fresh } : {}) };
  const any = await trx.selectFrom('known_browsers').select('user_id').where('user_id', '=', user.id).limit(1).executeTakeFirst();
  await trx.insertInto('known_browsers').values({
    user_id: user.id, device_hash: deviceHash, user_agent: origin.userAgent.slice(0, 512), first_seen_at: now, last_seen_at: now,
  }).onConflict((oc) => oc.columns(['user_id', 'device_hash']).doUpdateSet({ last_seen_at: now })).execute();
  const announced = Boolean(any);
  if (announced) {
    const device = describeDevice(origin.userAgent);
    await audit(trx, now, { type: 'login.new-browser', userId: user.id, origin, details: { device, mailed: ctx.config.newBrowserMail } });
    if (ctx.config.newBrowserMail) {
      await queueMail(ctx, trx, user.email, newBrowserMail(ctx.brand, user.display_name, formatDate(now, 'fr'), device, origin.ip), now);
    }
  }
  return { announced, ...(fresh ? { deviceToken: fresh } : {}) };
}
