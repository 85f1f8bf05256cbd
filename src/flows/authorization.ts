import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.ts';

/**
 * Who may act on whom. An account administrator acts only within the establishments where they hold
 * `admin`; a user of another establishment is answered as if they did not exist. Support and platform
 * admins are the platform's own staff.
 */
export async function adminEstablishmentIds(db: Kysely<Database>, userId: string): Promise<string[]> {
  const rows = await db.selectFrom('user_rights').select('establishment_id')
    .where('user_id', '=', userId).where('right_name', '=', 'admin').execute();
  return rows.map((r) => r.establishment_id);
}

export async function isAdminOf(db: Kysely<Database>, userId: string, establishmentId: string): Promise<boolean> {
  const row = await db.selectFrom('user_rights').select('user_id')
    .where('user_id', '=', userId).where('establishment_id', '=', establishmentId).where('right_name', '=', 'admin')
    .executeTakeFirst();
  return Boolean(row);
}

/** Whether `adminId` administers an establishment where `userId` holds any right or has a pending invitation. */
export async function canManageUser(db: Kysely<Database>, adminId: string, userId: string, establishmentId?: string): Promise<boolean> {
  let query = db.selectFrom('user_rights as target')
    .innerJoin('user_rights as admin', 'admin.establishment_id', 'target.establishment_id')
    .select('target.user_id')
    .where('target.user_id', '=', userId)
    .where('admin.user_id', '=', adminId)
    .where('admin.right_name', '=', 'admin');
  if (establishmentId) query = query.where('target.establishment_id', '=', establishmentId);
  return Boolean(await query.executeTakeFirst());
}

export function isStaff(roles: string[], role: 'support' | 'platform-admin'): boolean {
  return roles.includes(role);
}
