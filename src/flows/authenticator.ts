import { Secret } from 'otpauth';
import type { Context } from '../context.ts';
import { cleanOtpInput } from '../domain/otp.ts';
import { securityNoticeMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { User } from '../store/schema.ts';
import { inTransaction, queueMail, type FieldError } from './common.ts';
import { reauthenticate, REAUTH_FIELD } from './reauthenticate.ts';
import { acceptTotp, totpFor } from './second-factor-methods.ts';

/**
 * « Application d'authentification » (TOTP, RFC 6238) in « Mon compte ». A secret of 20 random bytes is
 * kept unconfirmed until the first right code proves the app holds it; only then is it a method of the
 * second factor. Adding or removing it asks for the current password, sends a notice and is audited.
 */
export const TOTP_CODE_FIELD = 'code';

export type TotpState =
  | { state: 'confirmed'; confirmedAt: Date }
  | { state: 'pending'; secret: string; uri: string };

/** The otpauth:// URI an app scans: the portal's name as issuer, the login as account name. */
export function totpUri(ctx: Context, user: Pick<User, 'login'>, secret: string): string {
  return totpFor(secret, user.login, ctx.config.portalName).toString();
}

/**
 * Where the user stands: a confirmed app, or the pending secret to scan. The pending secret is kept
 * across reloads (the QR code does not change under a user who scanned it already).
 */
export async function totpState(ctx: Context, user: User): Promise<TotpState> {
  const existing = await ctx.db.selectFrom('totp_credentials').select(['secret', 'confirmed_at'])
    .where('user_id', '=', user.id).executeTakeFirst();
  if (existing?.confirmed_at) return { state: 'confirmed', confirmedAt: existing.confirmed_at };
  if (existing) return { state: 'pending', secret: existing.secret, uri: totpUri(ctx, user, existing.secret) };
  const secret = new Secret({ size: 20 }).base32;
  await ctx.db.insertInto('totp_credentials').values({ user_id: user.id, secret, created_at: ctx.clock.now() })
    .onConflict((oc) => oc.column('user_id').doNothing()).execute();
  // Two tabs at once: whichever secret was stored first is the one.
  const stored = await ctx.db.selectFrom('totp_credentials').select(['secret', 'confirmed_at']).where('user_id', '=', user.id).executeTakeFirstOrThrow();
  if (stored.confirmed_at) return { state: 'confirmed', confirmedAt: stored.confirmed_at };
  return { state: 'pending', secret: stored.secret, uri: totpUri(ctx, user, stored.secret) };
}

export type TotpChangeOutcome =
  | { ok: true }
  | { ok: false; locked: true; errors: [] }
  | { ok: false; locked: false; errors: FieldError[] };

/** « Activer »: the current password, then the first code of the app (which is then spent). */
export async function confirmTotp(
  ctx: Context,
  user: User,
  input: { password: string; code: string },
  origin: Origin,
): Promise<TotpChangeOutcome> {
  const code = cleanOtpInput(input.code);
  // Nothing typed, or not a code: said at once, without spending a password guess.
  const early: FieldError[] = [];
  if (!input.password) early.push({ field: REAUTH_FIELD, code: 'required' });
  if (!code) early.push({ field: TOTP_CODE_FIELD, code: input.code.trim() ? 'code-format' : 'required' });
  if (early.length > 0) return { ok: false, locked: false, errors: early };
  const pending = await ctx.db.selectFrom('totp_credentials').select(['confirmed_at'])
    .where('user_id', '=', user.id).executeTakeFirst();
  if (!pending) return { ok: false, locked: false, errors: [{ field: TOTP_CODE_FIELD, code: 'totp-wrong' }] };
  if (pending.confirmed_at) return { ok: true };
  const reauth = await reauthenticate(ctx, user, input.password, origin, { during: 'totp-added' });
  if (!reauth.ok) return reauth;
  if (!(await acceptTotp(ctx, user.id, code!, false))) {
    return { ok: false, locked: false, errors: [{ field: TOTP_CODE_FIELD, code: 'totp-wrong' }] };
  }
  const now = ctx.clock.now();
  await inTransaction(ctx, async (trx) => {
    const confirmed = await trx.updateTable('totp_credentials').set({ confirmed_at: now })
      .where('user_id', '=', user.id).where('confirmed_at', 'is', null).returning('user_id').executeTakeFirst();
    if (!confirmed) return; // confirmed by a parallel request, which sent the notice
    await audit(trx, now, { type: 'second-factor.method.added', userId: user.id, origin, details: { method: 'totp' } });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name,
      `Une application d'authentification a été ajoutée à votre compte. Elle peut désormais servir de second facteur à la connexion.`), now);
  });
  return { ok: true };
}

/** « Retirer l'application d'authentification »: the current password, then the app is forgotten. */
export async function removeTotp(ctx: Context, user: User, password: string, origin: Origin): Promise<TotpChangeOutcome & { removed?: boolean }> {
  const reauth = await reauthenticate(ctx, user, password, origin, { during: 'totp-removed' });
  if (!reauth.ok) return reauth;
  const now = ctx.clock.now();
  const removed = await inTransaction(ctx, async (trx) => {
    const gone = await trx.deleteFrom('totp_credentials').where('user_id', '=', user.id).returning('confirmed_at').executeTakeFirst();
    if (!gone?.confirmed_at) return false;
    await audit(trx, now, { type: 'second-factor.method.removed', userId: user.id, origin, details: { method: 'totp' } });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name,
      `L'application d'authentification a été retirée de votre compte : ses codes ne permettent plus de vous connecter.`), now);
    return true;
  });
  return { ok: true, removed };
}

