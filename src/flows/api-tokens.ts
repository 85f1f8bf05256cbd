import { randomUUID } from 'node:crypto';
import type { Context } from '../context.ts';
import { hashToken, isTokenShaped, newToken } from '../domain/tokens.ts';
import { audit, type Origin } from '../store/audit.ts';
import { inTransaction, type Outcome } from './common.ts';
import { findEstablishment } from './establishments.ts';

/**
 * API tokens for /api/v1: a random 256-bit secret shown once, stored as its SHA-256, scoped to a list of
 * establishments, revocable. A revoked or unknown token is refused the same way.
 */
export interface ApiToken {
  id: string;
  name: string;
  establishmentIds: string[];
}

export async function createApiToken(
  ctx: Context,
  input: { name: string; establishmentIds: string[] },
  origin: Origin,
  actorId: string | null = null,
): Promise<Outcome<{ id: string; token: string }>> {
  const name = input.name.normalize('NFKC').trim();
  const ids = [...new Set(input.establishmentIds.map((id) => id.trim().toLowerCase()))];
  const errors = [];
  if (!name || name.length > 100) errors.push({ field: 'name', code: 'invalid-name' });
  if (ids.length === 0) errors.push({ field: 'establishment', code: 'missing-establishment' });
  if (errors.length > 0) return { ok: false, errors };
  const token = newToken();
  const id = randomUUID();
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    for (const establishmentId of ids) {
      if (!(await findEstablishment(trx, establishmentId))) {
        return { ok: false as const, errors: [{ field: 'establishment', code: 'unknown-establishment', vars: { id: establishmentId } }] };
      }
    }
    await trx.insertInto('api_tokens').values({
      id, token_hash: hashToken(token), name, created_by: actorId, establishment_ids: ids, created_at: now,
    }).execute();
    await audit(trx, now, { type: 'api-token.created', actorId, origin, details: { apiToken: id, name, establishments: ids } });
    return { ok: true as const, id, token };
  });
}

export async function listApiTokens(ctx: Context) {
  return ctx.db.selectFrom('api_tokens')
    .select(['id', 'name', 'establishment_ids', 'created_at', 'last_used_at', 'revoked_at'])
    .orderBy('created_at').orderBy('name').execute();
}

export async function revokeApiToken(ctx: Context, id: string, origin: Origin, actorId: string | null = null): Promise<'revoked' | 'already' | 'unknown'> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return 'unknown';
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const row = await trx.selectFrom('api_tokens').select(['id', 'revoked_at']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row) return 'unknown' as const;
    if (row.revoked_at) return 'already' as const;
    await trx.updateTable('api_tokens').set({ revoked_at: now }).where('id', '=', id).execute();
    await audit(trx, now, { type: 'api-token.revoked', actorId, origin, details: { apiToken: id } });
    return 'revoked' as const;
  });
}

/** The live token a bearer secret designates, or null. Marks it used (at most once a minute). */
export async function resolveApiToken(ctx: Context, secret: string): Promise<ApiToken | null> {
  if (!isTokenShaped(secret)) return null;
  const row = await ctx.db.selectFrom('api_tokens').select(['id', 'name', 'establishment_ids', 'last_used_at'])
    .where('token_hash', '=', hashToken(secret)).where('revoked_at', 'is', null).executeTakeFirst();
  if (!row) return null;
  const now = ctx.clock.now();
  if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() > 60_000) {
    await ctx.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
  }
  return { id: row.id, name: row.name, establishmentIds: row.establishment_ids.map((e) => e.toLowerCase()) };
}
