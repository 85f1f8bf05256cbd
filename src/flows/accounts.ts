import { randomUUID } from 'node:crypto';
import type { Context } from '../context.ts';
import { addMs } from '../domain/clock.ts';
import { isValidEmail, isValidLogin, normaliseEmail, normaliseLogin } from '../domain/identifiers.ts';
import { newTemporaryPassword } from '../domain/tokens.ts';
import { identifierMail, temporaryPasswordMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { Kysely } from 'kysely';
import type { Database, RightName } from '../store/schema.ts';
import { endAllSessions } from '../store/sessions.ts';
import { clearLockout, findUserByIdentifier, storePassword } from '../store/users.ts';
import { revokeTrustedBrowsers } from './second-factor.ts';
import { findEstablishment, grantRights } from './establishments.ts';
import { inTransaction, queueMail, type Outcome } from './common.ts';

export interface NewAccount {
  login: string;
  email: string;
  name: string;
  roles?: string[];
  /** Rights on one establishment, granted in the same transaction as the account. */
  establishment?: { id: string; rights: RightName[] };
}

const ROLE_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * Creates an account with a temporary password and sends two separate mails (seed 001): one with the
 * identifier, one with the temporary password. The password exists in clear only in that second mail.
 */
export async function createAccount(ctx: Context, input: NewAccount, origin: Origin): Promise<Outcome<{ userId: string }>> {
  const login = normaliseLogin(input.login);
  const email = normaliseEmail(input.email);
  const name = input.name.normalize('NFKC').trim();
  const roles = [...new Set((input.roles ?? []).map((r) => r.trim().toLowerCase()))];
  const errors = [];
  if (!isValidLogin(login)) errors.push({ field: 'login', code: 'invalid-login' });
  if (!isValidEmail(email)) errors.push({ field: 'email', code: 'invalid-email' });
  if (!name || name.length > 200) errors.push({ field: 'name', code: 'invalid-name' });
  for (const role of roles) if (!ROLE_PATTERN.test(role)) errors.push({ field: 'role', code: 'invalid-role' });
  if (errors.length > 0) return { ok: false, errors };
  const temporary = newTemporaryPassword(Math.max(16, ctx.config.passwordMinLength));
  const hash = await ctx.hasher.hash(temporary);
  const now = ctx.clock.now();
  const userId = randomUUID();
  return inTransaction(ctx, async (trx) => {
    const clash = await trx.selectFrom('users').select(['login', 'email'])
      .where((eb) => eb.or([eb('login', '=', login), eb('email', '=', email)])).execute();
    if (clash.length > 0) {
      return {
        ok: false as const,
        errors: clash.flatMap((c) => [
          ...(c.login === login ? [{ field: 'login', code: 'login-taken' }] : []),
          ...(c.email === email ? [{ field: 'email', code: 'email-taken' }] : []),
        ]),
      };
    }
    // Every check before the first write: a refusal must leave nothing behind.
    if (input.establishment) {
      if (!(await findEstablishment(trx, input.establishment.id))) {
        return { ok: false as const, errors: [{ field: 'establishment', code: 'unknown-establishment' }] };
      }
    }
    await trx.insertInto('users').values({
      id: userId, login, email, display_name: name, roles, created_at: now, updated_at: now,
    }).execute();
    await storePassword(trx, userId, hash, now, { temporaryUntil: addMs(now, ctx.config.tempPasswordTtlMs), keep: ctx.config.passwordHistory });
    await audit(trx, now, { type: 'account.created', userId, origin, details: { roles } });
    if (input.establishment) await grantRights(trx, userId, input.establishment.id, input.establishment.rights, now, origin);
    await audit(trx, now, { type: 'password.temporary.issued', userId, origin, details: { reason: 'created' } });
    await queueMail(ctx, trx, email, identifierMail(ctx.brand, name, login, 'created'), now);
    await queueMail(ctx, trx, email, temporaryPasswordMail(ctx.brand, name, temporary, ctx.config.tempPasswordTtlMs, 'created'), now);
    return { ok: true as const, userId };
  });
}

/** Support's reset: a new temporary password by the same two-mail path; sessions end, the lock is lifted. */
export async function issueTemporaryPassword(
  ctx: Context, identifier: string, origin: Origin, within?: (trx: Kysely<Database>) => Promise<void>,
): Promise<boolean> {
  const user = await findUserByIdentifier(ctx.db, identifier);
  if (!user) return false;
  const temporary = newTemporaryPassword(Math.max(16, ctx.config.passwordMinLength));
  const hash = await ctx.hasher.hash(temporary);
  const now = ctx.clock.now();
  await inTransaction(ctx, async (trx) => {
    await storePassword(trx, user.id, hash, now, { temporaryUntil: addMs(now, ctx.config.tempPasswordTtlMs), keep: ctx.config.passwordHistory });
    await clearLockout(trx, user.id, now);
    await endAllSessions(trx, user.id);
    await revokeTrustedBrowsers(trx, user.id, origin, now, 'temporary-password');
    await trx.updateTable('reset_tokens').set({ used_at: now }).where('user_id', '=', user.id).where('used_at', 'is', null).execute();
    await audit(trx, now, { type: 'password.temporary.issued', userId: user.id, origin, details: { reason: 'reset' } });
    await queueMail(ctx, trx, user.email, identifierMail(ctx.brand, user.display_name, user.login, 'reset'), now);
    await queueMail(ctx, trx, user.email, temporaryPasswordMail(ctx.brand, user.display_name, temporary, ctx.config.tempPasswordTtlMs, 'reset'), now);
    // The caller's own rows (support's audit) in the same transaction.
    if (within) await within(trx);
  });
  return true;
}

export async function unlockAccount(ctx: Context, identifier: string, origin: Origin): Promise<'unlocked' | 'not-locked' | 'unknown'> {
  const user = await findUserByIdentifier(ctx.db, identifier);
  if (!user) return 'unknown';
  if (!user.locked_at && user.failed_count === 0) return 'not-locked';
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await clearLockout(trx, user.id, now);
    await audit(trx, now, { type: 'account.unlocked', userId: user.id, origin, details: { via: 'cli' } });
  });
  return 'unlocked';
}

export async function listAccounts(ctx: Context) {
  return ctx.db.selectFrom('users')
    .select(['login', 'email', 'display_name', 'roles', 'locked_at', 'disabled_at', 'temp_password_expires_at', 'created_at'])
    .orderBy('login').execute();
}
