import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { isValidEmail, normaliseEmail } from '../domain/identifiers.ts';
import { audit, recentEvents, type Origin } from '../store/audit.ts';
import type { Database, User } from '../store/schema.ts';
import { endAllSessions, listSessions } from '../store/sessions.ts';
import { recordIpFailure } from '../store/throttle.ts';
import { clearLockout, findUserById } from '../store/users.ts';
import { issueTemporaryPassword } from './accounts.ts';
import { inTransaction, type FieldError } from './common.ts';
import { resetSecondFactor } from './second-factor-reset.ts';
import { listTrustedBrowsers, methodsOf } from './second-factor.ts';

/** « Support » desk: what an agent holding the global role 'support' can see and do. */

export const PAGE_SIZE = 20;
export const REASON_MIN = 5;
export const REASON_MAX = 500;
export const RESOLUTION_MAX = 2000;
export const MESSAGE_MAX = 2000;

export const SUPPORT_ACTIONS = ['reset-password', 'unlock', 'reset-second-factor', 'end-sessions', 'disable', 'enable'] as const;
export type SupportAction = (typeof SUPPORT_ACTIONS)[number];

/** Only the message the agent typed is kept: trimmed, NFC, within bounds, or a field error naming « motif ». */
export function checkReason(raw: string): { ok: true; reason: string } | { ok: false; error: FieldError } {
  const reason = raw.normalize('NFC').trim();
  if (!reason) return { ok: false, error: { field: 'motif', code: 'required' } };
  if (reason.length < REASON_MIN) return { ok: false, error: { field: 'motif', code: 'min-length', vars: { min: REASON_MIN } } };
  if (reason.length > REASON_MAX) return { ok: false, error: { field: 'motif', code: 'max-length', vars: { max: REASON_MAX } } };
  return { ok: true, reason };
}

/** LIKE pattern matching `text` anywhere, with the wildcards typed by the agent taken literally. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export async function searchUsers(ctx: Context, query: string, page: number) {
  const q = query.normalize('NFKC').trim().slice(0, 200);
  if (!q) return { rows: [], hasNext: false };
  const pattern = containsPattern(q);
  const rows = await ctx.db.selectFrom('users')
    .select(['id', 'login', 'email', 'display_name', 'locked_at', 'disabled_at'])
    .where((eb) => eb.or([
      eb('login', 'ilike', pattern),
      eb('email', 'ilike', pattern),
      eb('display_name', 'ilike', pattern),
      eb.exists(eb.selectFrom('user_rights').innerJoin('establishments', 'establishments.id', 'user_rights.establishment_id')
        .select(sql<number>`1`.as('one'))
        .whereRef('user_rights.user_id', '=', 'users.id')
        .where('establishments.name', 'ilike', pattern)),
    ]))
    .orderBy('login')
    .limit(PAGE_SIZE + 1)
    .offset((page - 1) * PAGE_SIZE)
    .execute();
  return { rows: rows.slice(0, PAGE_SIZE), hasNext: rows.length > PAGE_SIZE };
}

export async function openRequests(ctx: Context, limit = 100) {
  return ctx.db.selectFrom('support_requests')
    .leftJoin('users', 'users.id', 'support_requests.user_id')
    .select(['support_requests.id', 'support_requests.kind', 'support_requests.created_at', 'support_requests.email',
      'support_requests.user_id', 'support_requests.message', 'support_requests.ip', 'users.login'])
    .where('support_requests.handled_at', 'is', null)
    .orderBy('support_requests.created_at', 'desc')
    .limit(limit)
    .execute();
}

export async function findRequest(ctx: Context, id: string) {
  return ctx.db.selectFrom('support_requests')
    .leftJoin('users', 'users.id', 'support_requests.user_id')
    .select(['support_requests.id', 'support_requests.kind', 'support_requests.created_at', 'support_requests.email',
      'support_requests.user_id', 'support_requests.message', 'support_requests.ip', 'support_requests.user_agent',
      'support_requests.handled_at', 'support_requests.resolution', 'users.login'])
    .where('support_requests.id', '=', id)
    .executeTakeFirst();
}

export type UserStatus = 'active' | 'locked' | 'disabled';

export function statusOf(user: Pick<User, 'locked_at' | 'disabled_at'>): UserStatus {
  if (user.disabled_at) return 'disabled';
  if (user.locked_at) return 'locked';
  return 'active';
}

/** Everything the agent needs to help: never a password hash, a code or a token. */
export async function userDetails(ctx: Context, userId: string) {
  const user = await findUserById(ctx.db, userId);
  if (!user) return undefined;
  const now = ctx.clock.now();
  const limits = { idleMs: ctx.config.sessionIdleTtlMs, maxMs: ctx.config.sessionMaxTtlMs };
  const [methods, sessions, trusted, rights, events] = await Promise.all([
    methodsOf(ctx.db, user),
    listSessions(ctx.db, user.id, now, limits),
    listTrustedBrowsers(ctx, user.id),
    ctx.db.selectFrom('user_rights').innerJoin('establishments', 'establishments.id', 'user_rights.establishment_id')
      .select(['establishments.id', 'establishments.name', 'user_rights.right_name'])
      .where('user_rights.user_id', '=', user.id).orderBy('establishments.name').orderBy('user_rights.right_name').execute(),
    recentEvents(ctx.db, user.id, 30),
  ]);
  const establishments = new Map<string, { name: string; rights: string[] }>();
  for (const r of rights) {
    const entry = establishments.get(r.id) ?? { name: r.name, rights: [] };
    entry.rights.push(r.right_name);
    establishments.set(r.id, entry);
  }
  return {
    user: {
      id: user.id,
      login: user.login,
      email: user.email,
      name: user.display_name,
      roles: user.roles,
      status: statusOf(user),
      lockedAt: user.locked_at,
      disabledAt: user.disabled_at,
      failedCount: user.failed_count,
      temporaryUntil: user.temp_password_expires_at,
      temporaryExpired: Boolean(user.temp_password_expires_at && user.temp_password_expires_at <= now),
      hasPassword: Boolean(user.password_hash),
    },
    methods,
    sessions,
    trusted,
    establishments: [...establishments.values()],
    events,
  };
}

async function supportAudit(trx: Kysely<Database>, now: Date, agentId: string, userId: string, action: SupportAction, reason: string, origin: Origin) {
  await audit(trx, now, { type: 'support.action', userId, actorId: agentId, origin, details: { action, reason } });
}

export type ActionOutcome = { ok: true; changed: boolean } | { ok: false; errors: FieldError[] } | { ok: false; unknown: true };

/**
 * One support action on one account, in one transaction with its mails and audit rows: the flow's own
 * rows plus 'support.action' { action, reason } with the agent as actor.
 */
export async function performSupportAction(
  ctx: Context, agentId: string, userId: string, action: SupportAction, rawReason: string, origin: Origin,
): Promise<ActionOutcome> {
  const checked = checkReason(rawReason);
  if (!checked.ok) return { ok: false, errors: [checked.error] };
  const { reason } = checked;
  const user = await findUserById(ctx.db, userId);
  if (!user) return { ok: false, unknown: true };
  const within = (trx: Kysely<Database>) => supportAudit(trx, ctx.clock.now(), agentId, user.id, action, reason, origin);
  switch (action) {
    case 'reset-password':
      // The two-mail path: the agent never sees nor chooses the temporary password.
      return { ok: true, changed: await issueTemporaryPassword(ctx, user.login, origin, within) };
    case 'reset-second-factor':
      return { ok: true, changed: Boolean(await resetSecondFactor(ctx, user.login, origin, within)) };
    default:
      break;
  }
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    let changed = true;
    if (action === 'unlock') {
      changed = Boolean(user.locked_at) || user.failed_count > 0;
      await clearLockout(trx, user.id, now);
      if (changed) await audit(trx, now, { type: 'account.unlocked', userId: user.id, actorId: agentId, origin, details: { via: 'support' } });
    } else if (action === 'end-sessions') {
      const count = await endAllSessions(trx, user.id);
      changed = count > 0;
      await audit(trx, now, { type: 'sessions.ended.others', userId: user.id, actorId: agentId, origin, details: { via: 'support', count } });
    } else if (action === 'disable') {
      const row = await trx.updateTable('users').set({ disabled_at: now, updated_at: now })
        .where('id', '=', user.id).where('disabled_at', 'is', null).returning('id').executeTakeFirst();
      changed = Boolean(row);
      const count = await endAllSessions(trx, user.id);
      await trx.deleteFrom('login_challenges').where('user_id', '=', user.id).execute();
      if (changed) await audit(trx, now, { type: 'account.disabled', userId: user.id, actorId: agentId, origin, details: { reason, sessions: count } });
    } else if (action === 'enable') {
      const row = await trx.updateTable('users').set({ disabled_at: null, updated_at: now })
        .where('id', '=', user.id).where('disabled_at', 'is not', null).returning('id').executeTakeFirst();
      changed = Boolean(row);
      if (changed) await audit(trx, now, { type: 'account.enabled', userId: user.id, actorId: agentId, origin, details: { reason } });
    }
    await within(trx);
    return { ok: true as const, changed };
  });
}

/** « Traiter »: closes an open request with the agent's resolution text. */
export async function handleRequest(
  ctx: Context, agentId: string, requestId: string, rawResolution: string, origin: Origin,
): Promise<{ ok: true } | { ok: false; errors: FieldError[] } | { ok: false; unknown: true }> {
  const resolution = rawResolution.normalize('NFC').trim();
  if (!resolution) return { ok: false, errors: [{ field: 'resolution', code: 'required' }] };
  if (resolution.length > RESOLUTION_MAX) return { ok: false, errors: [{ field: 'resolution', code: 'max-length', vars: { max: RESOLUTION_MAX } }] };
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const row = await trx.updateTable('support_requests').set({ handled_at: now, handled_by: agentId, resolution })
      .where('id', '=', requestId).where('handled_at', 'is', null).returning(['id', 'kind', 'user_id', 'email']).executeTakeFirst();
    if (!row) return { ok: false as const, unknown: true as const };
    await audit(trx, now, {
      type: 'support.request.handled', userId: row.user_id, actorId: agentId, subject: row.email, origin,
      details: { requestId: row.id, kind: row.kind, reason: resolution },
    });
    return { ok: true as const };
  });
}

/** Inserts a request for the desk inside the caller's transaction. */
export async function recordSupportRequest(
  trx: Kysely<Database>, now: Date,
  request: { kind: 'forgotten-identifier' | 'not-me' | 'other'; email: string | null; userId: string | null; message?: string; origin: Origin },
): Promise<string> {
  const id = randomUUID();
  await trx.insertInto('support_requests').values({
    id, kind: request.kind, created_at: now, email: request.email ? request.email.slice(0, 254) : null, user_id: request.userId,
    message: (request.message ?? '').slice(0, MESSAGE_MAX), ip: request.origin.ip.slice(0, 64), user_agent: request.origin.userAgent.slice(0, 512),
  }).execute();
  return id;
}

/** « Ce n'était pas moi »: a request for the desk; the answer is the same whatever the address. */
export async function reportNotMe(ctx: Context, rawEmail: string, rawMessage: string, origin: Origin): Promise<Outcome> {
  const email = normaliseEmail(rawEmail).slice(0, 254);
  const message = rawMessage.normalize('NFC').trim();
  const errors: FieldError[] = [];
  if (!email) errors.push({ field: 'email', code: 'required' });
  else if (!isValidEmail(email)) errors.push({ field: 'email', code: 'invalid-email' });
  if (message.length > MESSAGE_MAX) errors.push({ field: 'message', code: 'max-length', vars: { max: MESSAGE_MAX } });
  if (errors.length > 0) return { ok: false, errors };
  const now = ctx.clock.now();
  const user = await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
  await inTransaction(ctx, async (trx) => {
    const id = await recordSupportRequest(trx, now, { kind: 'not-me', email, userId: user?.id ?? null, message, origin });
    await audit(trx, now, { type: 'support.request.created', userId: user?.id ?? null, subject: email, origin, details: { kind: 'not-me', requestId: id } });
    // Unknown addresses count against the IP, as on « Identifiant oublié ? ».
    if (!user) await recordIpFailure(trx, origin.ip, now, ctx.config.ipFailureWindowMs);
  });
  return { ok: true };
}

type Outcome = { ok: true } | { ok: false; errors: FieldError[] };
