import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { addMs } from '../domain/clock.ts';
import { hashToken, newToken } from '../domain/tokens.ts';
import type { Origin } from './audit.ts';
import type { Database, Session, User } from './schema.ts';

export interface SessionLimits {
  idleMs: number;
  maxMs: number;
}

/** A new random token at every sign-in; only its hash is stored. */
export async function createSession(
  db: Kysely<Database>,
  userId: string,
  scope: Session['scope'],
  origin: Origin,
  now: Date,
  limits: SessionLimits,
  secondFactor: string | null = null,
): Promise<{ token: string; id: string }> {
  const token = newToken();
  const id = randomUUID();
  await db.insertInto('sessions').values({
    token_hash: hashToken(token),
    id,
    user_id: userId,
    scope,
    created_at: now,
    last_seen_at: now,
    expires_at: addMs(now, limits.maxMs),
    ip: origin.ip.slice(0, 64),
    user_agent: origin.userAgent.slice(0, 512),
    second_factor: secondFactor,
  }).execute();
  return { token, id };
}

/** Activity is written at most once a minute, so that browsing does not turn into a write per page. */
const TOUCH_EVERY_MS = 60_000;

export async function resolveSession(
  db: Kysely<Database>,
  token: string,
  now: Date,
  limits: SessionLimits,
): Promise<{ session: Session; user: User } | undefined> {
  const tokenHash = hashToken(token);
  const session = await db.selectFrom('sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  if (!session) return undefined;
  const idleFor = now.getTime() - session.last_seen_at.getTime();
  if (idleFor > limits.idleMs || now >= session.expires_at) {
    await db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
    return undefined;
  }
  const user = await db.selectFrom('users').selectAll().where('id', '=', session.user_id).executeTakeFirst();
  if (!user || user.disabled_at) {
    await db.deleteFrom('sessions').where('token_hash', '=', tokenHash).execute();
    return undefined;
  }
  if (idleFor >= TOUCH_EVERY_MS) {
    await db.updateTable('sessions').set({ last_seen_at: now }).where('token_hash', '=', tokenHash).execute();
    session.last_seen_at = now;
  }
  return { session, user };
}

export async function endSessionByToken(db: Kysely<Database>, token: string): Promise<Session | undefined> {
  return db.deleteFrom('sessions').where('token_hash', '=', hashToken(token)).returningAll().executeTakeFirst();
}

export async function endAllSessions(db: Kysely<Database>, userId: string, exceptId?: string): Promise<number> {
  let query = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (exceptId) query = query.where('id', '!=', exceptId);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows ?? 0);
}

export async function listSessions(db: Kysely<Database>, userId: string, now: Date, limits: SessionLimits) {
  const oldestActivity = new Date(now.getTime() - limits.idleMs);
  return db.selectFrom('sessions')
    .select(['id', 'created_at', 'last_seen_at', 'ip', 'user_agent', 'scope'])
    .where('user_id', '=', userId)
    .where('expires_at', '>', now)
    .where('last_seen_at', '>=', oldestActivity)
    .orderBy('last_seen_at', 'desc')
    .execute();
}

export async function purgeExpiredSessions(db: Kysely<Database>, now: Date, limits: SessionLimits): Promise<void> {
  await db.deleteFrom('sessions')
    .where((eb) => eb.or([
      eb('expires_at', '<=', now),
      eb('last_seen_at', '<', new Date(now.getTime() - limits.idleMs)),
    ]))
    .execute();
}
