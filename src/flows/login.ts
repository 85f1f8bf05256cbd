import type { Context } from '../context.ts';
import { MAX_PASSWORD_LENGTH, normalisePassword, passwordLength } from '../domain/password-policy.ts';
import { guessLocks } from '../domain/lockout.ts';
import { accountLockedMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import { createSession } from '../store/sessions.ts';
import { ipFailures, recordIpFailure } from '../store/throttle.ts';
import { findUserByIdentifier, releaseGuess, reserveGuess } from '../store/users.ts';
import { inTransaction, queueMail } from './common.ts';
import { noteBrowserAtSignIn } from './known-browsers.ts';
import { openChallenge, requiresSecondFactor, trustAtSignIn } from './second-factor.ts';

export type LoginResult =
  | { ok: true; next: 'session'; token: string; scope: 'full' | 'password-change'; userId: string; dropTrustCookie: boolean; deviceToken?: string }
  | { ok: true; next: 'second-factor'; challengeToken: string; userId: string; dropTrustCookie: boolean }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled' };

const MAX_IDENTIFIER_LENGTH = 254;

/**
 * « Se connecter ». Unknown user, wrong password, locked or disabled account, expired temporary password:
 * the same answer, after the same work (one argon2 verification), so nothing tells them apart.
 */
export async function login(
  ctx: Context,
  identifier: string,
  password: string,
  origin: Origin,
  trustToken?: string,
  deviceToken?: string,
): Promise<LoginResult> {
  const { db, config, hasher } = ctx;
  const now = ctx.clock.now();
  const typed = identifier.trim();

  if (await ipFailures(db, origin.ip, now, config.ipFailureWindowMs) >= config.ipFailureLimit) {
    await audit(db, now, { type: 'login.throttled', subject: typed.slice(0, 254), origin });
    return { ok: false, reason: 'throttled' };
  }

  const fail = async (userId: string | null, why: string) => {
    await recordIpFailure(db, origin.ip, now, config.ipFailureWindowMs);
    await audit(db, now, { type: 'login.failure', userId, subject: userId ? null : typed, origin, details: { reason: why } });
    return { ok: false, reason: 'invalid' } as const;
  };

  if (!typed || !password || typed.length > MAX_IDENTIFIER_LENGTH || passwordLength(password) > MAX_PASSWORD_LENGTH) {
    await hasher.verifyDummy('x');
    return fail(null, 'malformed');
  }
  const candidate = normalisePassword(password);
  const user = await findUserByIdentifier(db, typed);
  if (!user || !user.password_hash) {
    await hasher.verifyDummy(candidate);
    return fail(user?.id ?? null, user ? 'no-password' : 'unknown');
  }
  if (user.disabled_at) {
    await hasher.verifyDummy(candidate);
    return fail(user.id, 'disabled');
  }
  const count = await reserveGuess(db, user.id, config.lockoutThreshold);
  if (count === undefined) {
    await hasher.verifyDummy(candidate);
    return fail(user.id, 'locked');
  }
  let right: boolean;
  try {
    right = await hasher.verify(user.password_hash, candidate);
  } catch (err) {
    await releaseGuess(db, user.id); // turned away by a busy hasher: nothing was checked
    throw err;
  }
  if (!right) {
    if (guessLocks(count, { threshold: config.lockoutThreshold })) {
      await inTransaction(ctx, async (trx) => {
        const locked = await trx.updateTable('users').set({ locked_at: now, updated_at: now })
          .where('id', '=', user.id).where('locked_at', 'is', null).returning('id').executeTakeFirst();
        if (!locked) return;
        await audit(trx, now, { type: 'account.locked', userId: user.id, origin, details: { failures: count } });
        await queueMail(ctx, trx, user.email, accountLockedMail(ctx.brand, user.display_name, count), now);
      });
    }
    return fail(user.id, 'wrong-password');
  }
  if (user.temp_password_expires_at && now >= user.temp_password_expires_at) {
    await db.updateTable('users').set({ failed_count: 0 }).where('id', '=', user.id).execute();
    return fail(user.id, 'temporary-password-expired');
  }
  const rehash = hasher.needsRehash(user.password_hash) ? await hasher.hash(candidate) : undefined;
  const scope = user.temp_password_expires_at ? 'password-change' : 'full';
  const needsSecondFactor = await requiresSecondFactor(ctx, user);
  return inTransaction(ctx, async (trx): Promise<LoginResult> => {
    await trx.updateTable('users')
      .set({ failed_count: 0, ...(rehash ? { password_hash: rehash } : {}) })
      .where('id', '=', user.id).execute();
    // Another professional's trust on this browser ends here (seed 004); this user's may spare the code.
    const trust = await trustAtSignIn(ctx, trx, trustToken, user.id, origin, now);
    const dropTrustCookie = trust === 'drop-cookie';
    if (needsSecondFactor && trust !== 'trusted') {
      const challengeToken = await openChallenge(ctx, trx, user, scope, origin, now);
      return { ok: true, next: 'second-factor', challengeToken, userId: user.id, dropTrustCookie };
    }
    const secondFactor = needsSecondFactor ? 'trusted-browser' : null;
    const created = await createSession(trx, user.id, scope, origin, now, { idleMs: config.sessionIdleTtlMs, maxMs: config.sessionMaxTtlMs }, secondFactor);
    await audit(trx, now, { type: 'login.success', userId: user.id, origin, details: { scope, rehashed: Boolean(rehash), ...(secondFactor ? { secondFactor } : {}) } });
    const device = await noteBrowserAtSignIn(ctx, trx, user, deviceToken, origin, now);
    return { ok: true, next: 'session', token: created.token, scope, userId: user.id, dropTrustCookie, ...(device.deviceToken ? { deviceToken: device.deviceToken } : {}) };
  });
}
