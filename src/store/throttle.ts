import type { Kysely } from 'kysely';
import { windowStart } from '../domain/lockout.ts';
import type { Database } from './schema.ts';

/**
 * Failures per client address in fixed windows: a password-spraying guard generous enough for a
 * hospital where hundreds of professionals share one NAT address.
 */
export async function ipFailures(db: Kysely<Database>, ip: string, now: Date, windowMs: number): Promise<number> {
  const row = await db.selectFrom('ip_failures').select('failures')
    .where('ip', '=', ip).where('window_start', '=', windowStart(now, windowMs)).executeTakeFirst();
  return row?.failures ?? 0;
}

export async function recordIpFailure(db: Kysely<Database>, ip: string, now: Date, windowMs: number): Promise<void> {
  await db.insertInto('ip_failures')
    .values({ ip, window_start: windowStart(now, windowMs), failures: 1 })
    .onConflict((oc) => oc.columns(['ip', 'window_start']).doUpdateSet((eb) => ({ failures: eb('ip_failures.failures', '+', 1) })))
    .execute();
}

export async function purgeOldIpFailures(db: Kysely<Database>, now: Date, windowMs: number): Promise<void> {
  await db.deleteFrom('ip_failures').where('window_start', '<', new Date(now.getTime() - 2 * windowMs)).execute();
}
