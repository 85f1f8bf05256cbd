import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { addMs } from '../domain/clock.ts';
import { isValidEmail, isValidLogin, normaliseEmail } from '../domain/identifiers.ts';
import { newTemporaryPassword } from '../domain/tokens.ts';
import { identifierMail, temporaryPasswordMail } from '../notify/mails.ts';
import { renderMail } from '../notify/render.ts';
import type { Origin } from '../store/audit.ts';
import type { Database, RightName } from '../store/schema.ts';
import { findEstablishment, isRight } from './establishments.ts';

/**
 * `sesame user import FILE.csv --establishment ID`: header `nom,email,droits`, rights separated by `|`,
 * `,` or `;` (taken from the header), UTF-8 with or without BOM, quoted fields allowed (on one line).
 *
 * Two streamed passes over the file, line by line: the first checks every row and collects every
 * error (nothing is written if there is one); the second writes in batches, one transaction per batch,
 * mails to the outbox in the same transaction. Memory: the set of e-mails seen (duplicate check) and
 * logins handed out, plus one batch — never the file.
 */

export const IMPORT_BATCH = 500;
const HASH_PARALLELISM = 4;

export interface ImportRow { line: number; name: string; email: string; rights: RightName[] }
export interface ImportError { line: number; message: string }

export type ImportResult =
  | { ok: true; created: number; updated: number; unchanged: number; rows: number }
  | { ok: false; reason: 'unknown-establishment' | 'unreadable' | 'header'; message: string }
  | { ok: false; reason: 'invalid-rows'; errors: ImportError[]; rows: number };

export interface ImportOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Splits one CSV line; `null` when a quote is left open. */
export function splitCsvLine(line: string, sep: string): string[] | null {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  let atStart = true;
  while (i < line.length) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false;
      } else field += c;
    } else if (c === '"' && atStart && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === sep) {
      fields.push(field);
      field = '';
      atStart = true;
      i++;
      continue;
    } else field += c;
    atStart = false;
    i++;
  }
  if (quoted) return null;
  fields.push(field);
  return fields;
}

interface Columns { sep: string; name: number; email: number; rights: number; count: number }

function readHeader(line: string): Columns | string {
  const clean = line.replace(/^\uFEFF/, '');
  const sep = (clean.match(/;/g)?.length ?? 0) > (clean.match(/,/g)?.length ?? 0) ? ';' : ',';
  const fields = splitCsvLine(clean, sep)?.map((f) => f.trim().toLowerCase());
  if (!fields) return 'En-tête illisible (guillemet non fermé).';
  const name = fields.indexOf('nom');
  const email = fields.indexOf('email');
  const rights = fields.indexOf('droits');
  if (name < 0 || email < 0 || rights < 0) return `En-tête attendu : nom,email,droits (lu : ${clean.slice(0, 200)}).`;
  return { sep, name, email, rights, count: fields.length };
}

function checkRow(line: number, raw: string, cols: Columns): { row?: ImportRow; errors: ImportError[] } {
  const fields = splitCsvLine(raw, cols.sep);
  if (!fields) return { errors: [{ line, message: 'guillemet non fermé' }] };
  if (fields.length !== cols.count) return { errors: [{ line, message: `${fields.length} colonne(s) au lieu de ${cols.count}` }] };
  const errors: ImportError[] = [];
  const name = fields[cols.name]!.normalize('NFKC').trim();
  const rawEmail = fields[cols.email]!;
  const email = normaliseEmail(rawEmail);
  const rawRights = fields[cols.rights]!.split('|').map((r) => r.trim().toLowerCase()).filter(Boolean);
  if (!name) errors.push({ line, message: 'nom vide' });
  else if (name.length > 200) errors.push({ line, message: 'nom trop long (200 caractères au plus)' });
  if (!isValidEmail(email)) errors.push({ line, message: `adresse e-mail invalide « ${rawEmail.trim().slice(0, 100)} »` });
  if (rawRights.length === 0) errors.push({ line, message: 'aucun droit (admin, patient-data ou member, séparés par « | »)' });
  for (const r of rawRights) if (!isRight(r)) errors.push({ line, message: `droit inconnu « ${r.slice(0, 50)} » (admin, patient-data ou member)` });
  if (errors.length > 0) return { errors };
  return { row: { line, name, email, rights: [...new Set(rawRights)].sort() as RightName[] }, errors };
}

/** Reads the file line by line, yielding checked rows or errors. Blank lines are skipped. */
async function* readRows(path: string): AsyncGenerator<{ header: Columns | string } | { line: number; row?: ImportRow; errors: ImportError[] }> {
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  let cols: Columns | undefined;
  for await (const text of lines) {
    n++;
    if (!cols) {
      const header = readHeader(text);
      yield { header };
      if (typeof header === 'string') return;
      cols = header;
      continue;
    }
    if (text.trim() === '') continue;
    yield { line: n, ...checkRow(n, text, cols) };
  }
  if (!cols) yield { header: 'Fichier vide : la première ligne doit être l’en-tête nom,email,droits.' };
}

/** A login from the e-mail's local part: lower case, accents dropped, other characters become « . ». */
export function loginBase(email: string): string {
  const local = email.split('@')[0] ?? '';
  let base = local.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '.').replace(/\.{2,}/g, '.').replace(/^[^a-z0-9]+/, '').replace(/[._-]+$/, '').slice(0, 56);
  if (base.length < 2) base = `utilisateur${base}`;
  return base;
}

export async function importUsers(ctx: Context, path: string, establishmentId: string, origin: Origin, options: ImportOptions = {}): Promise<ImportResult> {
  const batchSize = options.batchSize ?? IMPORT_BATCH;
  if (!(await findEstablishment(ctx.db, establishmentId))) {
    return { ok: false, reason: 'unknown-establishment', message: `--establishment « ${establishmentId} » ne désigne aucun établissement (voir sesame establishment list).` };
  }
  // Pass 1: every row checked, every error kept with its line number.
  const errors: ImportError[] = [];
  const seen = new Map<string, number>();
  let rows = 0;
  try {
    for await (const item of readRows(path)) {
      if ('header' in item) {
        if (typeof item.header === 'string') return { ok: false, reason: 'header', message: item.header };
        continue;
      }
      errors.push(...item.errors);
      if (!item.row) continue;
      const first = seen.get(item.row.email);
      if (first !== undefined) errors.push({ line: item.line, message: `adresse e-mail « ${item.row.email} » déjà présente ligne ${first}` });
      else seen.set(item.row.email, item.line);
      rows++;
    }
  } catch (err) {
    return { ok: false, reason: 'unreadable', message: `Lecture impossible de ${path} : ${(err as Error).message}` };
  }
  if (errors.length > 0) return { ok: false, reason: 'invalid-rows', errors, rows };
  seen.clear();

  // Pass 2: batches, each in its own transaction. The next batch's passwords are hashed (libuv threads)
  // while the current one is written (the database): at most two batches in memory.
  const totals = { created: 0, updated: 0, unchanged: 0 };
  const assigned = new Set<string>();
  let batch: ImportRow[] = [];
  let done = 0;
  let writing: Promise<void> | null = null;
  const flush = async (rowsOfBatch: ImportRow[]) => {
    const prepared = prepareBatch(ctx, rowsOfBatch);
    prepared.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    if (writing) await writing;
    writing = prepared.then(async (p) => {
      add(totals, await writeBatch(ctx, establishmentId, p, assigned, origin));
      done += rowsOfBatch.length;
      options.onProgress?.(done, rows);
    });
    writing.catch(() => {});
  };
  options.onProgress?.(0, rows);
  for await (const item of readRows(path)) {
    if ('header' in item || !item.row) continue;
    batch.push(item.row);
    if (batch.length >= batchSize) {
      await flush(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await flush(batch);
  if (writing) await writing;
  return { ok: true, ...totals, rows };
}

function add(totals: { created: number; updated: number; unchanged: number }, more: { created: number; updated: number; unchanged: number }) {
  totals.created += more.created;
  totals.updated += more.updated;
  totals.unchanged += more.unchanged;
}

/** Runs `work` over the items with at most `limit` in flight. */
async function mapBounded<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  }));
  return results;
}

async function freeLogins(db: Kysely<Database>, emails: string[], assigned: Set<string>): Promise<string[]> {
  const bases = emails.map(loginBase);
  const logins: string[] = [];
  const taken = new Set((await db.selectFrom('users').select('login').where('login', 'in', [...new Set(bases)]).execute()).map((r) => r.login));
  for (const base of bases) {
    let candidate = base;
    for (let suffix = 2; taken.has(candidate) || assigned.has(candidate); suffix++) {
      candidate = `${base}${suffix}`;
      if (!assigned.has(candidate) && !taken.has(candidate)
        && await db.selectFrom('users').select('login').where('login', '=', candidate).executeTakeFirst()) taken.add(candidate);
    }
    if (!isValidLogin(candidate)) throw new Error(`login dérivé invalide : ${candidate}`);
    assigned.add(candidate);
    logins.push(candidate);
  }
  return logins;
}

interface PreparedBatch {
  batch: ImportRow[];
  existing: { id: string; email: string }[];
  fresh: ImportRow[];
  credentials: { temporary: string; hash: string }[];
}

/** Which addresses exist already, and a temporary password hashed for each new one (outside any transaction). */
async function prepareBatch(ctx: Context, batch: ImportRow[]): Promise<PreparedBatch> {
  const existing = await ctx.db.selectFrom('users').select(['id', 'email']).where('email', 'in', batch.map((r) => r.email)).execute();
  const known = new Set(existing.map((u) => u.email));
  const fresh = batch.filter((r) => !known.has(r.email));
  // A few at a time through the shared hasher (its semaphore and queue limit still apply).
  const credentials = await mapBounded(fresh, HASH_PARALLELISM, async () => {
    const temporary = newTemporaryPassword(Math.max(16, ctx.config.passwordMinLength));
    return { temporary, hash: await ctx.hasher.hash(temporary) };
  });
  return { batch, existing, fresh, credentials };
}

async function writeBatch(ctx: Context, establishmentId: string, prepared: PreparedBatch, assigned: Set<string>, origin: Origin) {
  const { batch, existing, fresh, credentials } = prepared;
  const now = ctx.clock.now();
  const byEmail = new Map(existing.map((u) => [u.email, u.id]));
  const logins = fresh.length ? await freeLogins(ctx.db, fresh.map((r) => r.email), assigned) : [];
  const counts = { created: 0, updated: 0, unchanged: 0 };
  const auditRow = (type: string, userId: string, details: Record<string, unknown>, withEstablishment = true) => ({
    at: now, type, user_id: userId, subject: null, ip: origin.ip.slice(0, 64), user_agent: origin.userAgent.slice(0, 512),
    details: JSON.stringify({ ...details, import: true }), actor_id: null, establishment_id: withEstablishment ? establishmentId : null,
  });
  await ctx.db.transaction().execute(async (trx) => {
    const audits: ReturnType<typeof auditRow>[] = [];
    const rights: { user_id: string; establishment_id: string; right_name: RightName; granted_at: Date; granted_by: null }[] = [];
    // Accounts that already exist: the missing rights only.
    if (existing.length > 0) {
      const held = await trx.selectFrom('user_rights').select(['user_id', 'right_name'])
        .where('establishment_id', '=', establishmentId).where('user_id', 'in', existing.map((u) => u.id)).execute();
      const heldSet = new Set(held.map((h) => `${h.user_id} ${h.right_name}`));
      for (const row of batch) {
        const userId = byEmail.get(row.email);
        if (!userId) continue;
        const missing = row.rights.filter((r) => !heldSet.has(`${userId} ${r}`));
        if (missing.length === 0) { counts.unchanged++; continue; }
        counts.updated++;
        for (const right_name of missing) rights.push({ user_id: userId, establishment_id: establishmentId, right_name, granted_at: now, granted_by: null });
        audits.push(auditRow('rights.granted', userId, { rights: missing }));
      }
    }
    // New accounts: as createAccount does, a temporary password and two separate mails.
    if (fresh.length > 0) {
      const expires = addMs(now, ctx.config.tempPasswordTtlMs);
      const users = fresh.map((row, i) => ({
        id: randomUUID(), login: logins[i]!, email: row.email, display_name: row.name, roles: [] as string[],
        password_hash: credentials[i]!.hash, temp_password_expires_at: expires, password_changed_at: now, created_at: now, updated_at: now,
      }));
      await trx.insertInto('users').values(users).execute();
      const mails = [];
      for (const [i, user] of users.entries()) {
        const row = fresh[i]!;
        audits.push(auditRow('account.created', user.id, { roles: [] }));
        for (const right_name of row.rights) rights.push({ user_id: user.id, establishment_id: establishmentId, right_name, granted_at: now, granted_by: null });
        audits.push(auditRow('rights.granted', user.id, { rights: row.rights }));
        audits.push(auditRow('password.temporary.issued', user.id, { reason: 'created' }, false));
        for (const content of [
          identifierMail(ctx.brand, row.name, user.login, 'created'),
          temporaryPasswordMail(ctx.brand, row.name, credentials[i]!.temporary, ctx.config.tempPasswordTtlMs, 'created'),
        ]) {
          const mail = renderMail(content, ctx.brand);
          mails.push({ channel: 'mail' as const, recipient: row.email, subject: mail.subject, body_text: mail.text, body_html: mail.html, created_at: now, next_attempt_at: now });
        }
      }
      await trx.insertInto('outbox').values(mails).execute();
      counts.created += users.length;
    }
    if (rights.length > 0) {
      await trx.insertInto('user_rights').values(rights)
        .onConflict((oc) => oc.columns(['user_id', 'establishment_id', 'right_name']).doNothing()).execute();
    }
    if (audits.length > 0) await trx.insertInto('audit_events').values(audits).execute();
  });
  if (counts.created > 0) ctx.outbox.wake();
  return counts;
}
