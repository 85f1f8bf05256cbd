import type { Context } from '../context.ts';
import { newRecoveryCode } from '../domain/otp.ts';
import { securityNoticeMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { User } from '../store/schema.ts';
import { inTransaction, queueMail, type FieldError } from './common.ts';
import { reauthenticate } from './reauthenticate.ts';
import { hashRecoveryCode } from './second-factor-methods.ts';

/**
 * « Codes de secours »: for the professional who lost every other factor. Ten single-use codes, shown
 * once when generated; only their keyed hashes are stored (hashRecoveryCode, bound to the account).
 * Generating again replaces the whole set. The sign-in side is recoveryCheck (second-factor-methods.ts).
 */
export const RECOVERY_CODE_COUNT = 10;

export type RecoveryOutcome<T> =
  | ({ ok: true } & T)
  | { ok: false; locked: true; errors: [] }
  | { ok: false; locked: false; errors: FieldError[] };

export async function recoveryCodesLeft(ctx: Context, userId: string): Promise<number> {
  const row = await ctx.db.selectFrom('recovery_codes').select((eb) => eb.fn.countAll<string>().as('n'))
    .where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** « Générer des codes de secours »: the current password, then 10 new codes replace the old ones. */
export async function generateRecoveryCodes(ctx: Context, user: User, password: string, origin: Origin): Promise<RecoveryOutcome<{ codes: string[] }>> {
  const reauth = await reauthenticate(ctx, user, password, origin, { during: 'recovery-codes-generated' });
  if (!reauth.ok) return reauth;
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODE_COUNT) codes.add(newRecoveryCode());
  const hashes = await Promise.all([...codes].map((c) => hashRecoveryCode(ctx, user.id, c)));
  const now = ctx.clock.now();
  await inTransaction(ctx, async (trx) => {
    const old = await trx.deleteFrom('recovery_codes').where('user_id', '=', user.id).returning('used_at').execute();
    const replaced = old.filter((r) => !r.used_at).length;
    await trx.insertInto('recovery_codes').values(hashes.map((code_hash) => ({ user_id: user.id, code_hash, created_at: now }))).execute();
    await audit(trx, now, { type: 'second-factor.method.added', userId: user.id, origin, details: { method: 'recovery', count: RECOVERY_CODE_COUNT, replaced } });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name, old.length > 0
      ? `De nouveaux codes de secours (${RECOVERY_CODE_COUNT}) ont été générés pour votre compte : les codes précédents ne fonctionnent plus.`
      : `Des codes de secours (${RECOVERY_CODE_COUNT}) ont été générés pour votre compte. Chacun permet une connexion si vous perdez l'accès à vos autres moyens de vérification.`), now);
  });
  return { ok: true, codes: [...codes] };
}

/** « Supprimer mes codes de secours »: the current password, then every code stops working. */
export async function removeRecoveryCodes(ctx: Context, user: User, password: string, origin: Origin): Promise<RecoveryOutcome<{ removed: number }>> {
  const reauth = await reauthenticate(ctx, user, password, origin, { during: 'recovery-codes-removed' });
  if (!reauth.ok) return reauth;
  const now = ctx.clock.now();
  const removed = await inTransaction(ctx, async (trx) => {
    const gone = await trx.deleteFrom('recovery_codes').where('user_id', '=', user.id).returning('used_at').execute();
    const unused = gone.filter((r) => !r.used_at).length;
    if (unused === 0) return 0;
    await audit(trx, now, { type: 'second-factor.method.removed', userId: user.id, origin, details: { method: 'recovery', count: unused } });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name,
      'Vos codes de secours ont été supprimés : ils ne permettent plus de vous connecter.'), now);
    return unused;
  });
  return { ok: true, removed };
}
