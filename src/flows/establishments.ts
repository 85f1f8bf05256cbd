import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { isValidFiness, normaliseFiness } from '../domain/finess.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { Database, RightName } from '../store/schema.ts';
import { findUserByIdentifier } from '../store/users.ts';
import { inTransaction, type FieldError, type Outcome } from './common.ts';

export const RIGHTS: RightName[] = ['admin', 'patient-data', 'member'];
export const STAFF_ROLES = ['platform-admin', 'support'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

export function isRight(value: string): value is RightName {
  return (RIGHTS as string[]).includes(value);
}

/** An establishment: a name and, optionally, a FINESS number checked with its control key. */
export async function createEstablishment(
  ctx: Context,
  input: { name: string; finess?: string | undefined },
  origin: Origin,
  actorId: string | null = null,
): Promise<Outcome<{ id: string }>> {
  const name = input.name.normalize('NFKC').trim();
  const finess = input.finess ? normaliseFiness(input.finess) : null;
  const errors: FieldError[] = [];
  if (!name || name.length > 200) errors.push({ field: 'name', code: 'invalid-name' });
  if (finess !== null && !isValidFiness(finess)) errors.push({ field: 'finess', code: 'invalid-finess' });
  if (errors.length > 0) return { ok: false, errors };
  const now = ctx.clock.now();
  const id = randomUUID();
  return inTransaction(ctx, async (trx) => {
    if (finess && await trx.selectFrom('establishments').select('id').where('finess', '=', finess).executeTakeFirst()) {
      return { ok: false as const, errors: [{ field: 'finess', code: 'finess-taken' }] };
    }
    await trx.insertInto('establishments').values({ id, name, finess, created_at: now, updated_at: now }).execute();
    await audit(trx, now, { type: 'establishment.created', actorId, establishmentId: id, origin, details: { name, finess } });
    return { ok: true as const, id };
  });
}

export async function listEstablishments(ctx: Context) {
  return ctx.db.selectFrom('establishments')
    .select(['id', 'name', 'finess', 'status', 'created_at'])
    .select((eb) => eb.selectFrom('user_rights').select((e) => e.fn.count<string>('user_id').distinct().as('n'))
      .whereRef('user_rights.establishment_id', '=', 'establishments.id').as('users'))
    .orderBy('name').execute();
}

export async function findEstablishment(db: Kysely<Database>, id: string) {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined;
  return db.selectFrom('establishments').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Grants rights on an establishment inside the caller's transaction; granting twice changes nothing. */
export async function grantRights(
  trx: Kysely<Database>,
  userId: string,
  establishmentId: string,
  rights: RightName[],
  now: Date,
  origin: Origin,
  actorId: string | null = null,
): Promise<void> {
  if (rights.length === 0) return;
  await trx.insertInto('user_rights')
    .values(rights.map((right_name) => ({ user_id: userId, establishment_id: establishmentId, right_name, granted_at: now, granted_by: actorId })))
    .onConflict((oc) => oc.columns(['user_id', 'establishment_id', 'right_name']).doNothing())
    .execute();
  await audit(trx, now, { type: 'rights.granted', userId, actorId, establishmentId, origin, details: { rights } });
}

/** `sesame platform-admin LOGIN` / `sesame support LOGIN`: the platform's own staff roles. */
export async function grantStaffRole(ctx: Context, identifier: string, role: StaffRole, origin: Origin): Promise<'granted' | 'already' | 'unknown'> {
  const user = await findUserByIdentifier(ctx.db, identifier);
  if (!user) return 'unknown';
  if (user.roles.includes(role)) return 'already';
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ roles: [...user.roles, role], updated_at: now }).where('id', '=', user.id).execute();
    await audit(trx, now, { type: 'staff-role.granted', userId: user.id, origin, details: { role } });
  });
  return 'granted';
}

/** Global roles plus the rights held in any establishment: what the second-factor rule looks at. */
export async function effectiveRoles(db: Kysely<Database>, user: { id: string; roles: string[] }): Promise<string[]> {
  const rows = await db.selectFrom('user_rights').select('right_name').distinct().where('user_id', '=', user.id).execute();
  return [...new Set([...user.roles, ...rows.map((r) => r.right_name)])];
}
