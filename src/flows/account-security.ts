import type { Context } from '../context.ts';
import { maskPhone } from '../domain/masking.ts';
import type { User } from '../store/schema.ts';
import { listTrustedBrowsers, methodsOf, requiresSecondFactor } from './second-factor.ts';

/**
 * What « Mon compte » shows of the account's security: second-factor methods, backup phone,
 * trusted browsers. One query per part; each feature adds its own field.
 */
export async function securityOverview(ctx: Context, user: User) {
  const [methods, trustedBrowsers, pendingPhone, totp, passkeys, recoveryLeft] = await Promise.all([
    methodsOf(ctx.db, user),
    listTrustedBrowsers(ctx, user.id),
    ctx.db.selectFrom('phone_verifications').select(['phone', 'expires_at']).where('user_id', '=', user.id).executeTakeFirst(),
    ctx.db.selectFrom('totp_credentials').select(['confirmed_at', 'created_at']).where('user_id', '=', user.id).executeTakeFirst(),
    ctx.db.selectFrom('webauthn_credentials').select(['id', 'name', 'created_at', 'last_used_at']).where('user_id', '=', user.id).orderBy('created_at').execute(),
    ctx.db.selectFrom('recovery_codes').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', user.id).where('used_at', 'is', null).executeTakeFirstOrThrow(),
  ]);
  return {
    methods,
    requiresSecondFactor: await requiresSecondFactor(ctx, user),
    /** Masked (« +33 6 •• •• •• 78 »): what the page shows of the backup phone and of a number awaiting its code. */
    backupPhone: user.backup_phone_verified_at && user.backup_phone ? maskPhone(user.backup_phone) : null,
    pendingPhone: pendingPhone && pendingPhone.expires_at > ctx.clock.now() ? maskPhone(pendingPhone.phone) : null,
    totpConfirmed: Boolean(totp?.confirmed_at),
    passkeys,
    recoveryLeft: Number(recoveryLeft.n),
    trustedBrowsers,
  };
}

export type SecurityOverview = Awaited<ReturnType<typeof securityOverview>>;
