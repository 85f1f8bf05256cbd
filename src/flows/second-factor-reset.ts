import type { Kysely } from 'kysely';
import type { Context } from '../context.ts';
import type { Database } from '../store/schema.ts';
import { securityNoticeMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import { endAllSessions } from '../store/sessions.ts';
import { findUserByIdentifier } from '../store/users.ts';
import { inTransaction, queueMail } from './common.ts';
import { revokeTrustedBrowsers } from './second-factor.ts';

export interface SecondFactorReset {
  login: string;
  email: string;
  backupPhone: boolean;
  totp: boolean;
  passkeys: number;
  recoveryCodes: number;
  trustedBrowsers: number;
  sessions: number;
}

/**
 * `sesame user reset-2fa`: support's answer to a professional who lost every factor. Everything but the
 * e-mail goes: backup phone (and any number being confirmed), authenticator app, passkeys, recovery
 * codes, trusted browsers, sign-ins waiting for their second factor; every session ends. One
 * transaction, one audit row, one notice mail. The next sign-in gets its code by e-mail.
 */
export async function resetSecondFactor(
  ctx: Context, identifier: string, origin: Origin, within?: (trx: Kysely<Database>) => Promise<void>,
): Promise<SecondFactorReset | undefined> {
  const user = await findUserByIdentifier(ctx.db, identifier);
  if (!user) return undefined;
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const phone = await trx.updateTable('users').set({ backup_phone: null, backup_phone_verified_at: null, updated_at: now })
      .where('id', '=', user.id).where('backup_phone', 'is not', null).returning('id').executeTakeFirst();
    await trx.deleteFrom('phone_verifications').where('user_id', '=', user.id).execute();
    const totp = await trx.deleteFrom('totp_credentials').where('user_id', '=', user.id).returning('confirmed_at').executeTakeFirst();
    const passkeys = await trx.deleteFrom('webauthn_credentials').where('user_id', '=', user.id).returning('id').execute();
    await trx.deleteFrom('webauthn_registrations')
      .where('session_id', 'in', (eb) => eb.selectFrom('sessions').select('id').where('user_id', '=', user.id)).execute();
    const codes = await trx.deleteFrom('recovery_codes').where('user_id', '=', user.id).returning('used_at').execute();
    const trustedBrowsers = await revokeTrustedBrowsers(trx, user.id, origin, now, 'second-factor-reset');
    await trx.deleteFrom('login_challenges').where('user_id', '=', user.id).execute();
    const sessions = await endAllSessions(trx, user.id);
    const result: SecondFactorReset = {
      login: user.login,
      email: user.email,
      backupPhone: Boolean(phone),
      totp: Boolean(totp?.confirmed_at),
      passkeys: passkeys.length,
      recoveryCodes: codes.filter((c) => !c.used_at).length,
      trustedBrowsers,
      sessions,
    };
    const { login: _login, email: _email, ...details } = result;
    await audit(trx, now, { type: 'second-factor.reset', userId: user.id, origin, details });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name,
      "Le support technique a réinitialisé la double authentification de votre compte : téléphone de secours, application d'authentification, clés d'accès, codes de secours et navigateurs de confiance ont été retirés, et vos sessions ont pris fin. À votre prochaine connexion, le code de vérification vous sera envoyé par e-mail ; vous pourrez ensuite ajouter de nouveau vos méthodes dans « Mon compte »."), now);
    // The caller's own rows (support's audit) in the same transaction.
    if (within) await within(trx);
    return result;
  });
}
