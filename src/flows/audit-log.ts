import { sql, type Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { audit, type AuditType, type Origin } from '../store/audit.ts';
import type { Database } from '../store/schema.ts';
import { findUserByIdentifier } from '../store/users.ts';
import type { FieldError } from './common.ts';

/**
 * The audit log as staff read it: « Journal d'audit » (GET /audit), its CSV export (web and CLI) and the
 * retention purge. Filters: a user (identifier or e-mail: events about them or done by them), an
 * establishment, a type, a period of Europe/Paris days (both bounds included).
 */

/** Every audit type, for the filter's list (the Record makes the compiler check it is complete). */
const TYPE_SET: Record<AuditType, true> = {
  'login.success': true, 'login.failure': true, 'login.throttled': true, 'account.created': true, 'account.locked': true,
  'account.unlocked': true, 'password.temporary.issued': true, 'password.changed': true, 'password.reset.requested': true,
  'password.reset': true, 'identifier.reminder.requested': true, 'session.ended': true, 'sessions.ended.others': true,
  'second-factor.required': true, 'second-factor.code.sent': true, 'second-factor.success': true, 'second-factor.failure': true,
  'second-factor.abandoned': true, 'second-factor.method.added': true, 'second-factor.method.removed': true,
  'second-factor.reset': true, 'trusted-browser.added': true, 'trusted-browser.revoked': true, 'backup-phone.code.sent': true,
  'backup-phone.changed': true, 'backup-phone.removed': true, 'establishment.created': true, 'rights.granted': true,
  'staff-role.granted': true, 'invitation.sent': true, 'invitation.resent': true, 'invitation.cancelled': true,
  'invitation.accepted': true, 'rights.changed': true, 'rights.revoked': true, 'account.removed-from-establishment': true,
  'account.deleted': true, 'account.disabled': true, 'account.enabled': true, 'support.request.created': true,
  'support.request.handled': true, 'support.action': true, 'api-token.created': true, 'api-token.revoked': true,
  'audit.exported': true, 'audit.purged': true, 'login.new-browser': true,
};
export const AUDIT_TYPES = Object.keys(TYPE_SET).sort() as AuditType[];

/** The filters as typed (form field names): kept to refill the form and to build the export link. */
export interface AuditFilterInput {
  utilisateur?: string | undefined;
  etablissement?: string | undefined;
  type?: string | undefined;
  du?: string | undefined;
  au?: string | undefined;
}

export interface AuditFilters {
  userId?: string;
  establishmentId?: string;
  type?: string;
  from?: Date;
  /** Exclusive: the start of the day after « au ». */
  until?: Date;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Milliseconds to add to UTC to read the wall clock in Paris at that instant. */
const PARIS_PARTS = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Europe/Paris', hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
function parisOffsetMs(at: number): number {
  const p = Object.fromEntries(PARIS_PARTS.formatToParts(new Date(at)).map((x) => [x.type, x.value]));
  const wall = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return wall - Math.floor(at / 1000) * 1000;
}

/** The instant a Europe/Paris day starts, or undefined for anything but a real YYYY-MM-DD date. */
export function parisDayStart(day: string, plusDays = 0): Date | undefined {
  const m = DAY.exec(day);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const utc = Date.UTC(y, mo - 1, d);
  const check = new Date(utc);
  if (y < 1970 || y > 9999 || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) return undefined;
  const midnight = Date.UTC(y, mo - 1, d + plusDays);
  let at = midnight - parisOffsetMs(midnight);
  at = midnight - parisOffsetMs(at);
  return new Date(at);
}

export function clean(input: AuditFilterInput): AuditFilterInput {
  const out: AuditFilterInput = {};
  for (const key of ['utilisateur', 'etablissement', 'type', 'du', 'au'] as const) {
    const v = input[key]?.trim();
    if (v) out[key] = v.slice(0, 254);
  }
  return out;
}

/** Checks and resolves the filters; each error names its field. */
export async function resolveFilters(db: Kysely<Database>, raw: AuditFilterInput): Promise<{ ok: true; filters: AuditFilters } | { ok: false; errors: FieldError[] }> {
  const input = clean(raw);
  const errors: FieldError[] = [];
  const filters: AuditFilters = {};
  if (input.utilisateur) {
    const user = await findUserByIdentifier(db, input.utilisateur);
    if (user) filters.userId = user.id;
    else errors.push({ field: 'utilisateur', code: 'audit-unknown-user' });
  }
  if (input.etablissement) {
    if (UUID.test(input.etablissement)) filters.establishmentId = input.etablissement.toLowerCase();
    else errors.push({ field: 'etablissement', code: 'audit-bad-establishment' });
  }
  if (input.type) {
    if (input.type in TYPE_SET) filters.type = input.type;
    else errors.push({ field: 'type', code: 'audit-bad-type' });
  }
  if (input.du) {
    const from = parisDayStart(input.du);
    if (from) filters.from = from;
    else errors.push({ field: 'du', code: 'audit-bad-date' });
  }
  if (input.au) {
    const until = parisDayStart(input.au, 1);
    if (until) filters.until = until;
    else errors.push({ field: 'au', code: 'audit-bad-date' });
  }
  if (filters.from && filters.until && filters.until <= filters.from) errors.push({ field: 'au', code: 'audit-bad-period' });
  return errors.length ? { ok: false, errors } : { ok: true, filters };
}

function base(db: Kysely<Database>, f: AuditFilters) {
  let q = db.selectFrom('audit_events as e')
    .leftJoin('users as u', 'u.id', 'e.user_id')
    .leftJoin('users as a', 'a.id', 'e.actor_id')
    .leftJoin('establishments as s', 's.id', 'e.establishment_id')
    .select(['e.id', 'e.at', 'e.type', 'e.user_id', 'e.subject', 'e.ip', 'e.user_agent', 'e.details', 'e.actor_id', 'e.establishment_id',
      'u.login as user_login', 'a.login as actor_login', 's.name as establishment_name']);
  if (f.userId) { const id = f.userId; q = q.where((eb) => eb.or([eb('e.user_id', '=', id), eb('e.actor_id', '=', id)])); }
  if (f.establishmentId) q = q.where('e.establishment_id', '=', f.establishmentId);
  if (f.type) q = q.where('e.type', '=', f.type);
  if (f.from) q = q.where('e.at', '>=', f.from);
  if (f.until) q = q.where('e.at', '<', f.until);
  return q;
}
type Row = Awaited<ReturnType<ReturnType<typeof base>['execute']>>[number];
export type AuditRow = Row;

export const PAGE_SIZE = 50;

/** One page of the log, newest first; `before` is the id the previous page ended at (keyset). */
export async function auditPage(db: Kysely<Database>, f: AuditFilters, before?: string, limit = PAGE_SIZE): Promise<{ rows: Row[]; next?: string }> {
  let q = base(db, f);
  if (before) q = q.where('e.id', '<', before);
  const rows = await q.orderBy('e.id', 'desc').limit(limit + 1).execute();
  const more = rows.length > limit;
  if (more) rows.pop();
  return { rows, ...(more ? { next: rows[rows.length - 1]!.id } : {}) };
}

// ——— CSV ———

export const CSV_HEADER = ['at', 'type', 'utilisateur', 'acteur', 'établissement', 'ip', 'navigateur', 'détails'];

/** One cell: quoted when needed (quotes doubled); a leading = + - @ (or tab/CR) is defused with ' for spreadsheets. */
export function csvCell(value: string | null | undefined): string {
  let v = value ?? '';
  if (/^[=+\-@\t\r]/.test(v)) v = `'${v}`;
  return /[";\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

export function csvLine(cells: (string | null | undefined)[]): string {
  return cells.map(csvCell).join(';') + '\r\n';
}

function csvRow(r: Row): string {
  return csvLine([
    r.at.toISOString(), r.type, r.user_login ?? r.subject ?? r.user_id, r.actor_login ?? r.actor_id,
    r.establishment_name ?? r.establishment_id, r.ip, r.user_agent, JSON.stringify(r.details ?? {}),
  ]);
}

export const EXPORT_PAGE_SIZE = 1000;

/**
 * The CSV, produced page by page (keyset on id, oldest first) so that memory stays bounded whatever the
 * log's size: PGlite cannot stream a query. `upTo` bounds the export to the events that existed when it
 * started. Starts with a BOM so that Excel reads UTF-8.
 */
export async function* csvExport(db: Kysely<Database>, f: AuditFilters, upTo?: string, pageSize = EXPORT_PAGE_SIZE): AsyncGenerator<string> {
  yield '\uFEFF' + csvLine(CSV_HEADER);
  let after: string | undefined;
  for (;;) {
    let q = base(db, f);
    if (after) q = q.where('e.id', '>', after);
    if (upTo) q = q.where('e.id', '<=', upTo);
    const rows = await q.orderBy('e.id', 'asc').limit(pageSize).execute();
    if (rows.length === 0) return;
    let chunk = '';
    for (const r of rows) chunk += csvRow(r);
    yield chunk;
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.id;
  }
}

/** Records the export (with its filters, as typed), and returns the last id it may include. */
export async function startExport(ctx: Context, input: AuditFilterInput, actorId: string | null, origin: Origin, via: 'web' | 'cli'): Promise<string> {
  const now = ctx.clock.now();
  const max = await ctx.db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  await audit(ctx.db, now, { type: 'audit.exported', userId: actorId, actorId, origin, details: { filters: clean(input), via } });
  return String(max?.id ?? '0');
}

// ——— Retention ———

/** Deletes the events older than SESAME_AUDIT_RETENTION (the only DELETE the trigger lets through), then audits it. */
export async function purgeAudit(ctx: Context, origin: Origin, dryRun = false): Promise<{ count: number; before: Date }> {
  const now = ctx.clock.now();
  const before = new Date(now.getTime() - ctx.config.auditRetentionMs);
  if (dryRun) {
    const row = await ctx.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<string>().as('n')).where('at', '<', before).executeTakeFirstOrThrow();
    return { count: Number(row.n), before };
  }
  return ctx.db.transaction().execute(async (trx) => {
    await sql`set local sesame.audit_purge = 'on'`.execute(trx);
    const result = await trx.deleteFrom('audit_events').where('at', '<', before).executeTakeFirst();
    await sql`set local sesame.audit_purge = 'off'`.execute(trx);
    const count = Number(result.numDeletedRows ?? 0);
    await audit(trx, now, { type: 'audit.purged', origin, details: { count, before: before.toISOString(), retentionDays: Math.round(ctx.config.auditRetentionMs / 86_400_000) } });
    return { count, before };
  });
}
