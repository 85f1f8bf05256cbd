import type { Kysely } from 'kysely';
import { normaliseEmail, normaliseLogin } from '../domain/identifiers.ts';
import type { Database, User } from './schema.ts';

/** Finds an account by identifier or by e-mail address, as the sign-in form accepts either. */
export async function findUserByIdentifier(db: Kysely<Database>, identifier: string): Promise<User | undefined> {
  const value = identifier.includes('@') ? normaliseEmail(identifier) : normaliseLogin(identifier);
  const column = identifier.includes('@') ? 'email' : 'login';
  return db.selectFrom('users').selectAll().where(column, '=', value).executeTakeFirst();
}

export async function findUserById(db: Kysely<Database>, id: string): Promise<User | undefined> {
  return db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Reserves one guess before the password is checked: the counter moves only while it is below the
 * threshold and the account is usable, atomically, so parallel attempts never get more guesses than
 * the threshold. Returns the counter after the reservation, or undefined when no guess is left.
 */
export async function reserveGuess(db: Kysely<Database>, userId: string, threshold: number): Promise<number | undefined> {
  const row = await db.updateTable('users')
    .set((eb) => ({ failed_count: eb('failed_count', '+', 1) }))
    .where('id', '=', userId)
    .where('failed_count', '<', threshold)
    .where('locked_at', 'is', null)
    .where('disabled_at', 'is', null)
    .returning('failed_count')
    .executeTakeFirst();
  return row?.failed_count;
}

/**
 * Gives back a reserved guess that was never checked: the hasher turned the request away (busy) before
 * comparing anything, so it must not count towards the lockout.
 */
export async function releaseGuess(db: Kysely<Database>, userId: string): Promise<void> {
  await db.updateTable('users')
    .set((eb) => ({ failed_count: eb('failed_count', '-', 1) }))
    .where('id', '=', userId)
    .where('failed_count', '>', 0)
    .execute();
}

export async function recentHashes(db: Kysely<Database>, userId: string, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const rows = await db.selectFrom('password_history').select('password_hash')
    .where('user_id', '=', userId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(count).execute();
  return rows.map((r) => r.password_hash);
}

/** Sets a new password and remembers it, keeping only as many old ones as the policy compares against. */
export async function storePassword(
  db: Kysely<Database>,
  userId: string,
  passwordHash: string,
  now: Date,
  options: { temporaryUntil: Date | null; keep: number },
): Promise<void> {
  await db.updateTable('users').set({
    password_hash: passwordHash,
    temp_password_expires_at: options.temporaryUntil,
    password_changed_at: now,
    updated_at: now,
  }).where('id', '=', userId).execute();
  if (options.temporaryUntil) return; // a temporary password is not one the user chose: no history
  await db.insertInto('password_history').values({ user_id: userId, password_hash: passwordHash, created_at: now }).execute();
  const keep = await db.selectFrom('password_history').select('id')
    .where('user_id', '=', userId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(Math.max(1, options.keep)).execute();
  await db.deleteFrom('password_history')
    .where('user_id', '=', userId)
    .where('id', 'not in', keep.map((k) => k.id))
    .execute();
}

export async function clearLockout(db: Kysely<Database>, userId: string, now: Date): Promise<void> {
  await db.updateTable('users').set({ failed_count: 0, locked_at: null, updated_at: now }).where('id', '=', userId).execute();
}
