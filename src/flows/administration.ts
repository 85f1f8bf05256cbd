import { sql, type Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { Database, RightName } from '../store/schema.ts';
import { adminEstablishmentIds, isAdminOf } from './authorization.ts';
import { inTransaction, type Outcome } from './common.ts';
import { RIGHTS } from './establishments.ts';
import { pickRights } from './invitations.ts';
import { revokeTrustedBrowsers } from './second-factor.ts';

export const PAGE_SIZE = 50;
/** From this many establishments, changing the sign-in address goes through local support (seed 002). */
export const MANY_ESTABLISHMENTS = 5;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The establishments an account administrator runs, by name. */
export async function administeredEstablishments(db: Kysely<Database>, adminId: string) {
  const ids = await adminEstablishmentIds(db, adminId);
  if (ids.length === 0) return [];
  return db.selectFrom('establishments').select(['id', 'name']).where('id', 'in', ids).orderBy('name').orderBy('id').execute();
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The people holding rights in an establishment, searchable by name, identifier or e-mail, a page at a time. */
export async function listPeople(db: Kysely<Database>, establishmentId: string, options: { query: string; page: number }) {
  const q = options.query.normalize('NFKC').trim().toLowerCase().slice(0, 200);
  let base = db.selectFrom('users')
    .where('users.id', 'in', db.selectFrom('user_rights').select('user_id').where('establishment_id', '=', establishmentId));
  if (q) {
    const pattern = `%${escapeLike(q)}%`;
    base = base.where((eb) => eb.or([
      eb(sql<string>`lower(users.display_name)`, 'like', pattern),
      eb('users.login', 'like', pattern),
      eb('users.email', 'like', pattern),
    ]));
  }
  const total = Number((await base.select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const page = Math.min(Math.max(1, options.page), pages);
  const users = await base.select(['users.id', 'users.login', 'users.email', 'users.display_name', 'users.locked_at', 'users.disabled_at'])
    .orderBy('users.display_name').orderBy('users.login').limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE).execute();
  const rights = users.length === 0 ? [] : await db.selectFrom('user_rights').select(['user_id', 'right_name'])
    .where('establishment_id', '=', establishmentId).where('user_id', 'in', users.map((u) => u.id)).execute();
  return {
    total, page, pages, query: q,
    people: users.map((u) => ({
      ...u,
      rights: RIGHTS.filter((r) => rights.some((x) => x.user_id === u.id && x.right_name === r)),
      status: u.disabled_at ? 'disabled' as const : u.locked_at ? 'locked' as const : 'active' as const,
    })),
  };
}

export async function pendingInvitations(ctx: Context, establishmentId: string) {
  return ctx.db.selectFrom('invitations').select(['id', 'name', 'email', 'rights', 'sent_at', 'expires_at', 'user_id'])
    .where('establishment_id', '=', establishmentId).where('accepted_at', 'is', null).where('cancelled_at', 'is', null)
    .orderBy('sent_at', 'desc').execute();
}

/** A person as their administrator sees them, or undefined when the admin does not run that establishment or the person is not in it. */
export async function managedUser(db: Kysely<Database>, adminId: string, establishmentId: string, userId: string) {
  if (!UUID.test(establishmentId) || !UUID.test(userId)) return undefined;
  if (!(await isAdminOf(db, adminId, establishmentId))) return undefined;
  const rows = await db.selectFrom('user_rights').innerJoin('users', 'users.id', 'user_rights.user_id')
    .select(['users.id', 'users.login', 'users.email', 'users.display_name', 'users.locked_at', 'users.roles', 'user_rights.right_name'])
    .where('user_rights.establishment_id', '=', establishmentId).where('users.id', '=', userId).execute();
  const first = rows[0];
  if (!first) return undefined;
  const establishments = await db.selectFrom('user_rights').select((eb) => eb.fn.count<string>('establishment_id').distinct().as('n'))
    .where('user_id', '=', userId).executeTakeFirstOrThrow();
  const establishment = await db.selectFrom('establishments').select(['id', 'name']).where('id', '=', establishmentId).executeTakeFirstOrThrow();
  return {
    id: first.id, login: first.login, email: first.email, display_name: first.display_name, locked_at: first.locked_at,
    rights: RIGHTS.filter((r) => rows.some((x) => x.right_name === r)),
    establishmentCount: Number(establishments.n),
    establishment,
  };
}

/** « Enregistrer les droits »: at least one right; the administrator cannot take away their own admin right. */
export async function changeRights(
  ctx: Context,
  adminId: string,
  establishmentId: string,
  userId: string,
  values: string[],
  origin: Origin,
): Promise<Outcome<{ changed: boolean }> | { ok: false; notFound: true }> {
  const rights = pickRights(values);
  if (rights.length === 0) return { ok: false, errors: [{ field: 'droits', code: 'rights-required' }] };
  if (userId === adminId && !rights.includes('admin')) return { ok: false, errors: [{ field: 'droits', code: 'own-admin' }] };
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const target = await managedUser(trx, adminId, establishmentId, userId);
    if (!target) return { ok: false as const, notFound: true as const };
    const removed = target.rights.filter((r) => !rights.includes(r));
    const added = rights.filter((r) => !target.rights.includes(r));
    if (removed.length === 0 && added.length === 0) return { ok: true as const, changed: false };
    if (removed.length > 0) {
      await trx.deleteFrom('user_rights').where('user_id', '=', userId).where('establishment_id', '=', establishmentId)
        .where('right_name', 'in', removed).execute();
    }
    if (added.length > 0) {
      await trx.insertInto('user_rights')
        .values(added.map((right_name: RightName) => ({ user_id: userId, establishment_id: establishmentId, right_name, granted_at: now, granted_by: adminId })))
        .execute();
    }
    await audit(trx, now, { type: 'rights.changed', userId, actorId: adminId, establishmentId, origin, details: { before: target.rights, after: rights } });
    return { ok: true as const, changed: true };
  });
}

/**
 * « Supprimer l'utilisateur »: the person leaves this establishment; the identity itself is deleted when it
 * belongs to no establishment anymore and holds no staff role (its sessions go with it, by cascade).
 */
export async function removeUser(
  ctx: Context,
  adminId: string,
  establishmentId: string,
  userId: string,
  origin: Origin,
): Promise<'removed' | 'deleted' | 'self' | 'not-found'> {
  if (userId === adminId) return 'self';
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const target = await managedUser(trx, adminId, establishmentId, userId);
    if (!target) return 'not-found' as const;
    await trx.deleteFrom('user_rights').where('user_id', '=', userId).where('establishment_id', '=', establishmentId).execute();
    await trx.updateTable('invitations').set({ cancelled_at: now })
      .where('user_id', '=', userId).where('establishment_id', '=', establishmentId)
      .where('accepted_at', 'is', null).where('cancelled_at', 'is', null).execute();
    await audit(trx, now, { type: 'account.removed-from-establishment', userId, actorId: adminId, establishmentId, origin, details: { rights: target.rights } });
    const remaining = await trx.selectFrom('user_rights').select('user_id').where('user_id', '=', userId).executeTakeFirst();
    const user = await trx.selectFrom('users').select('roles').where('id', '=', userId).executeTakeFirstOrThrow();
    if (remaining || user.roles.length > 0) return 'removed' as const;
    await revokeTrustedBrowsers(trx, userId, origin, now, 'account-deleted');
    await audit(trx, now, { type: 'account.deleted', userId, actorId: adminId, establishmentId, subject: target.login, origin, details: { login: target.login } });
    await trx.deleteFrom('users').where('id', '=', userId).execute();
    return 'deleted' as const;
  });
}
