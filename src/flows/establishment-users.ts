import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { addMs } from '../domain/clock.ts';
import { isValidEmail, isValidLogin, normaliseEmail, normaliseLogin } from '../domain/identifiers.ts';
import { newTemporaryPassword } from '../domain/tokens.ts';
import { identifierMail, temporaryPasswordMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { Database, RightName } from '../store/schema.ts';
import { storePassword } from '../store/users.ts';
import { inTransaction, queueMail, type FieldError, type Outcome } from './common.ts';
import { grantRights, RIGHTS } from './establishments.ts';
import { revokeTrustedBrowsers } from './second-factor.ts';

/**
 * Users of one establishment, as the API and the CSV import see them. Every function takes the
 * establishment id and never reaches a user who holds no right there: the caller's scope check is
 * the establishment, this module's is the user.
 */

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface Actor {
  origin: Origin;
  actorId: string | null;
  /** Merged into every audit event's details (e.g. { apiToken: id }). */
  details?: Record<string, unknown>;
}

export interface NewMember {
  login: string;
  email: string;
  name: string;
  rights: RightName[];
}

/** A temporary password and its hash: hashed outside any transaction (argon2 is slow by design). */
export async function temporaryCredential(ctx: Context): Promise<{ temporary: string; hash: string }> {
  const temporary = newTemporaryPassword(Math.max(16, ctx.config.passwordMinLength));
  return { temporary, hash: await ctx.hasher.hash(temporary) };
}

/**
 * The writes of createAccount (flows/accounts.ts) inside the caller's transaction, for an account made
 * with rights on one establishment: user, temporary password, audit, rights, the two separate mails.
 * The caller has checked the values and that login and e-mail are free.
 */
export async function insertMember(
  ctx: Context,
  trx: Kysely<Database>,
  establishmentId: string,
  member: NewMember,
  credential: { temporary: string; hash: string },
  now: Date,
  actor: Actor,
): Promise<string> {
  const userId = randomUUID();
  const extra = actor.details ?? {};
  await trx.insertInto('users').values({
    id: userId, login: member.login, email: member.email, display_name: member.name, roles: [], created_at: now, updated_at: now,
  }).execute();
  await storePassword(trx, userId, credential.hash, now, { temporaryUntil: addMs(now, ctx.config.tempPasswordTtlMs), keep: ctx.config.passwordHistory });
  await audit(trx, now, { type: 'account.created', userId, actorId: actor.actorId, establishmentId, origin: actor.origin, details: { roles: [], ...extra } });
  await grantRightsAudited(trx, userId, establishmentId, member.rights, now, actor);
  await audit(trx, now, { type: 'password.temporary.issued', userId, actorId: actor.actorId, origin: actor.origin, details: { reason: 'created', ...extra } });
  await queueMail(ctx, trx, member.email, identifierMail(ctx.brand, member.name, member.login, 'created'), now);
  await queueMail(ctx, trx, member.email, temporaryPasswordMail(ctx.brand, member.name, credential.temporary, ctx.config.tempPasswordTtlMs, 'created'), now);
  return userId;
}

/** grantRights, with the actor's extra details in the audit event. */
export async function grantRightsAudited(trx: Kysely<Database>, userId: string, establishmentId: string, rights: RightName[], now: Date, actor: Actor): Promise<void> {
  if (!actor.details) return grantRights(trx, userId, establishmentId, rights, now, actor.origin, actor.actorId);
  if (rights.length === 0) return;
  await trx.insertInto('user_rights')
    .values(rights.map((right_name) => ({ user_id: userId, establishment_id: establishmentId, right_name, granted_at: now, granted_by: actor.actorId })))
    .onConflict((oc) => oc.columns(['user_id', 'establishment_id', 'right_name']).doNothing())
    .execute();
  await audit(trx, now, { type: 'rights.granted', userId, actorId: actor.actorId, establishmentId, origin: actor.origin, details: { rights, ...actor.details } });
}

export function checkMember(input: NewMember): { member: NewMember; errors: FieldError[] } {
  const member: NewMember = {
    login: normaliseLogin(input.login),
    email: normaliseEmail(input.email),
    name: input.name.normalize('NFKC').trim(),
    rights: [...new Set(input.rights)].sort(),
  };
  const errors: FieldError[] = [];
  if (!isValidLogin(member.login)) errors.push({ field: 'login', code: 'invalid-login' });
  if (!isValidEmail(member.email)) errors.push({ field: 'email', code: 'invalid-email' });
  if (!member.name || member.name.length > 200) errors.push({ field: 'name', code: 'invalid-name' });
  if (member.rights.length === 0 || member.rights.some((r) => !(RIGHTS as string[]).includes(r))) errors.push({ field: 'rights', code: 'invalid-rights' });
  return { member, errors };
}

/** Creates an account with rights on the establishment (the createAccount path: two mails). */
export async function createMember(ctx: Context, establishmentId: string, input: NewMember, actor: Actor): Promise<Outcome<{ userId: string }>> {
  const { member, errors } = checkMember(input);
  if (errors.length > 0) return { ok: false, errors };
  const credential = await temporaryCredential(ctx);
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const clash = await trx.selectFrom('users').select(['login', 'email'])
      .where((eb) => eb.or([eb('login', '=', member.login), eb('email', '=', member.email)])).execute();
    if (clash.length > 0) {
      return {
        ok: false as const,
        errors: clash.flatMap((c) => [
          ...(c.login === member.login ? [{ field: 'login', code: 'login-taken' }] : []),
          ...(c.email === member.email ? [{ field: 'email', code: 'email-taken' }] : []),
        ]),
      };
    }
    const userId = await insertMember(ctx, trx, establishmentId, member, credential, now, actor);
    return { ok: true as const, userId };
  });
}

export type MemberStatus = 'active' | 'disabled' | 'locked' | 'temporary-password' | 'temporary-password-expired';

export async function listMembers(db: Kysely<Database>, establishmentId: string, options: { page: number; perPage: number; q?: string | undefined }, now: Date) {
  let base = db.selectFrom('users')
    .where((eb) => eb.exists(eb.selectFrom('user_rights').select('user_rights.user_id')
      .whereRef('user_rights.user_id', '=', 'users.id').where('user_rights.establishment_id', '=', establishmentId)));
  const q = options.q?.normalize('NFKC').trim().toLowerCase();
  if (q) {
    const like = `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    base = base.where((eb) => eb.or([
      eb('users.login', 'like', like), eb('users.email', 'like', like), eb(sql<string>`lower(users.display_name)`, 'like', like),
    ]));
  }
  const total = await base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  const rows = await base
    .select(['users.id', 'users.login', 'users.display_name', 'users.email', 'users.disabled_at', 'users.locked_at', 'users.temp_password_expires_at'])
    .orderBy('users.login').limit(options.perPage).offset((options.page - 1) * options.perPage).execute();
  const rights = rows.length === 0 ? [] : await db.selectFrom('user_rights').select(['user_id', 'right_name'])
    .where('establishment_id', '=', establishmentId).where('user_id', 'in', rows.map((r) => r.id)).orderBy('right_name').execute();
  return {
    total: Number(total.n),
    users: rows.map((r) => ({
      id: r.id,
      login: r.login,
      name: r.display_name,
      email: r.email,
      rights: rights.filter((x) => x.user_id === r.id).map((x) => x.right_name),
      status: memberStatus(r, now),
    })),
  };
}

function memberStatus(r: { disabled_at: Date | null; locked_at: Date | null; temp_password_expires_at: Date | null }, now: Date): MemberStatus {
  if (r.disabled_at) return 'disabled';
  if (r.locked_at) return 'locked';
  if (r.temp_password_expires_at) return r.temp_password_expires_at <= now ? 'temporary-password-expired' : 'temporary-password';
  return 'active';
}

async function rightsHeld(db: Kysely<Database>, userId: string, establishmentId: string): Promise<RightName[]> {
  if (!UUID_PATTERN.test(userId)) return [];
  const rows = await db.selectFrom('user_rights').select('right_name')
    .where('user_id', '=', userId).where('establishment_id', '=', establishmentId).orderBy('right_name').forUpdate().execute();
  return rows.map((r) => r.right_name);
}

/** Replaces the user's rights on the establishment. 'unknown' when they hold none there. */
export async function replaceRights(ctx: Context, establishmentId: string, userId: string, rights: RightName[], actor: Actor): Promise<'changed' | 'unchanged' | 'unknown'> {
  const after = [...new Set(rights)].sort();
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const before = await rightsHeld(trx, userId, establishmentId);
    if (before.length === 0) return 'unknown' as const;
    if (before.join() === after.join()) return 'unchanged' as const;
    await trx.deleteFrom('user_rights').where('user_id', '=', userId).where('establishment_id', '=', establishmentId)
      .where('right_name', 'not in', after).execute();
    await trx.insertInto('user_rights')
      .values(after.map((right_name) => ({ user_id: userId, establishment_id: establishmentId, right_name, granted_at: now, granted_by: actor.actorId })))
      .onConflict((oc) => oc.columns(['user_id', 'establishment_id', 'right_name']).doNothing()).execute();
    await audit(trx, now, { type: 'rights.changed', userId, actorId: actor.actorId, establishmentId, origin: actor.origin, details: { before, after, ...actor.details } });
    return 'changed' as const;
  });
}

/**
 * Removes the user from the establishment (all their rights there). The identity itself is deleted when
 * it belongs to no other establishment and holds no staff role.
 */
export async function removeMember(ctx: Context, establishmentId: string, userId: string, actor: Actor): Promise<'removed' | 'deleted' | 'unknown'> {
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const before = await rightsHeld(trx, userId, establishmentId);
    if (before.length === 0) return 'unknown' as const;
    await trx.deleteFrom('user_rights').where('user_id', '=', userId).where('establishment_id', '=', establishmentId).execute();
    // As the administration page's « Supprimer l'utilisateur » does (flows/administration.ts removeUser).
    await trx.updateTable('invitations').set({ cancelled_at: now })
      .where('user_id', '=', userId).where('establishment_id', '=', establishmentId)
      .where('accepted_at', 'is', null).where('cancelled_at', 'is', null).execute();
    await audit(trx, now, { type: 'account.removed-from-establishment', userId, actorId: actor.actorId, establishmentId, origin: actor.origin, details: { rights: before, ...actor.details } });
    const elsewhere = await trx.selectFrom('user_rights').select('user_id').where('user_id', '=', userId).limit(1).executeTakeFirst();
    const user = await trx.selectFrom('users').select(['roles', 'login']).where('id', '=', userId).executeTakeFirstOrThrow();
    if (elsewhere || user.roles.length > 0) return 'removed' as const;
    await revokeTrustedBrowsers(trx, userId, actor.origin, now, 'account-deleted');
    await audit(trx, now, { type: 'account.deleted', userId, actorId: actor.actorId, establishmentId, subject: user.login, origin: actor.origin, details: { login: user.login, reason: 'no-establishment', ...actor.details } });
    await trx.deleteFrom('users').where('id', '=', userId).execute();
    return 'deleted' as const;
  });
}

export async function establishmentEvents(
  db: Kysely<Database>,
  establishmentId: string,
  options: { page: number; perPage: number; from?: Date | undefined; to?: Date | undefined; type?: string | undefined },
) {
  let base = db.selectFrom('audit_events').where('establishment_id', '=', establishmentId);
  if (options.from) base = base.where('at', '>=', options.from);
  if (options.to) base = base.where('at', '<', options.to);
  if (options.type) base = base.where('type', '=', options.type);
  const total = await base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  const rows = await base.select(['id', 'at', 'type', 'user_id', 'actor_id', 'details'])
    .orderBy('at', 'desc').orderBy('id', 'desc').limit(options.perPage).offset((options.page - 1) * options.perPage).execute();
  return {
    total: Number(total.n),
    events: rows.map((r) => ({ id: String(r.id), at: r.at.toISOString(), type: r.type, userId: r.user_id, actorId: r.actor_id, details: r.details })),
  };
}
