import type { Context } from '../context.ts';
import { checkPassword, MAX_PASSWORD_LENGTH, normalisePassword } from '../domain/password-policy.ts';
import type { User } from '../store/schema.ts';
import { recentHashes } from '../store/users.ts';
import type { FieldError } from './common.ts';

export const NEW_PASSWORD_FIELD = 'nouveau_mot_de_passe';
export const CONFIRMATION_FIELD = 'confirmation';

/**
 * Checks a new password against the policy, its confirmation and the last passwords of the user.
 * The history is compared last: it costs one argon2 verification per remembered password.
 */
export async function validateNewPassword(
  ctx: Context,
  user: Pick<User, 'id' | 'login' | 'email' | 'display_name' | 'password_hash' | 'temp_password_expires_at'>,
  password: string,
  confirmation: string,
): Promise<FieldError[]> {
  const errors: FieldError[] = [];
  if (!password) return [{ field: NEW_PASSWORD_FIELD, code: 'required' }];
  const rules = checkPassword(
    password,
    { minLength: ctx.config.passwordMinLength, requireClasses: true },
    { login: user.login, email: user.email, name: user.display_name },
    ctx.commonPasswords,
  );
  for (const code of rules) errors.push({ field: NEW_PASSWORD_FIELD, code });
  if (normalisePassword(password) !== normalisePassword(confirmation ?? '')) {
    errors.push({ field: CONFIRMATION_FIELD, code: 'mismatch' });
  }
  if (errors.length > 0) return errors;
  const normalised = normalisePassword(password);
  const previous = await recentHashes(ctx.db, user.id, ctx.config.passwordHistory);
  if (user.password_hash && !previous.includes(user.password_hash)) previous.unshift(user.password_hash);
  for (const phc of previous) {
    if (await ctx.hasher.verify(phc, normalised)) {
      errors.push({ field: NEW_PASSWORD_FIELD, code: user.temp_password_expires_at && phc === user.password_hash ? 'same-as-temporary' : 'history' });
      break;
    }
  }
  return errors;
}

/** Length is checked before anything else so that a huge value never reaches the hasher. */
export function tooLong(password: string): boolean {
  return password.length > MAX_PASSWORD_LENGTH * 4;
}
