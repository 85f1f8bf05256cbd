import { Secret, TOTP } from 'otpauth';
import type { Context } from '../context.ts';
import { hashOtp } from '../domain/otp.ts';
import { pepper, type OpenChallenge } from './second-factor.ts';

/** RFC 6238 with the parameters every authenticator app understands. */
export const TOTP_PERIOD_S = 30;

export function totpFor(secretBase32: string, label: string, issuer: string): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD_S, secret: Secret.fromBase32(secretBase32) });
}

/**
 * Checks an authenticator-app code: one step of clock drift either way, and never the same step twice
 * (a code seen once cannot be replayed).
 */
export async function acceptTotp(ctx: Context, userId: string, code: string, onlyConfirmed = true): Promise<boolean> {
  let query = ctx.db.selectFrom('totp_credentials').selectAll().where('user_id', '=', userId);
  if (onlyConfirmed) query = query.where('confirmed_at', 'is not', null);
  const credential = await query.executeTakeFirst();
  if (!credential) return false;
  const now = ctx.clock.now().getTime();
  const delta = totpFor(credential.secret, 'x', ctx.config.portalName).validate({ token: code, timestamp: now, window: 1 });
  if (delta === null) return false;
  const step = Math.floor(now / 1000 / TOTP_PERIOD_S) + delta;
  const claimed = await ctx.db.updateTable('totp_credentials').set({ last_step: step })
    .where('user_id', '=', userId)
    .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', String(step))]))
    .returning('user_id').executeTakeFirst();
  return Boolean(claimed);
}

export function totpCheck(ctx: Context, open: OpenChallenge, code: string): () => Promise<boolean> {
  return () => acceptTotp(ctx, open.user.id, code);
}

export async function hashRecoveryCode(ctx: Context, userId: string, code: string): Promise<string> {
  return hashOtp(await pepper(ctx), `recovery:${userId}`, code);
}

/** A recovery code works once: it is marked used in the same statement that finds it. */
export function recoveryCheck(ctx: Context, open: OpenChallenge, code: string): () => Promise<boolean> {
  return async () => {
    const hash = await hashRecoveryCode(ctx, open.user.id, code);
    const used = await ctx.db.updateTable('recovery_codes').set({ used_at: ctx.clock.now() })
      .where('user_id', '=', open.user.id).where('code_hash', '=', hash).where('used_at', 'is', null)
      .returning('id').executeTakeFirst();
    return Boolean(used);
  };
}
