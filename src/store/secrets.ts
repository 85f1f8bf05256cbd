import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * Server-side secrets (captcha signing key, one-time-code pepper): 32 random bytes made once, by
 * whichever instance comes first, kept in the `settings` table; the other instances read them back.
 */
export async function serverSecret(db: Kysely<Database>, key: string): Promise<string> {
  await db.insertInto('settings')
    .values({ key, value: randomBytes(32).toString('hex') })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirstOrThrow();
  return row.value;
}

/** The same, computed once per process; a failed read is retried at the next call. */
export function cachedSecret(db: Kysely<Database>, key: string): () => Promise<string> {
  let pending: Promise<string> | null = null;
  return () => {
    pending ??= serverSecret(db, key).catch((err: unknown) => {
      pending = null;
      throw err;
    });
    return pending;
  };
}
