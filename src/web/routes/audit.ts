import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AUDIT_TYPES, auditPage, clean, csvExport, resolveFilters, startExport, type AuditFilterInput } from '../../flows/audit-log.ts';
import { isStaff } from '../../flows/authorization.ts';
import type { FieldError } from '../../flows/common.ts';
import type { MessageKey } from '../i18n.ts';
import { renderPage } from '../render.ts';
import { describeDevice, formatDate } from '../user-agent.ts';

/** « Journal d'audit »: the platform's staff only (support, platform-admin); anyone else gets a 404. */
function allowed(req: FastifyRequest): boolean {
  return Boolean(req.auth && req.auth.session.scope === 'full' && (isStaff(req.roles, 'support') || isStaff(req.roles, 'platform-admin')));
}

function filterInput(req: FastifyRequest): AuditFilterInput {
  const q = req.query as Record<string, unknown>;
  const one = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
  return clean({ utilisateur: one('utilisateur'), etablissement: one('etablissement'), type: one('type'), du: one('du'), au: one('au') });
}

function query(values: AuditFilterInput, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...values, ...extra })) if (v) params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : '';
}

const LABELS: Record<string, MessageKey> = { utilisateur: 'audit.user', etablissement: 'audit.establishment', type: 'audit.type', du: 'audit.from', au: 'audit.to' };

function word(req: FastifyRequest, errors: FieldError[]) {
  return errors.map((e) => ({ field: e.field, message: req.t(`audit.error.${e.code}` as MessageKey, { label: req.t(LABELS[e.field] ?? 'audit.user') }) }));
}

export async function auditRoutes(app: FastifyInstance) {
  const { ctx } = app;

  async function page(req: FastifyRequest, reply: FastifyReply, values: AuditFilterInput, errors: FieldError[], rows: Awaited<ReturnType<typeof auditPage>> | undefined) {
    const establishments = await ctx.db.selectFrom('establishments').select(['id', 'name']).orderBy('name').execute();
    return renderPage(req, reply, 'audit', {
      title: req.t('audit.title'),
      values,
      errors: word(req, errors),
      establishments,
      types: AUDIT_TYPES,
      exportHref: `/audit/export.csv${query(values)}`,
      rows: (rows?.rows ?? []).map((r) => ({
        at: formatDate(r.at, req.lang),
        type: r.type,
        user: r.user_login ?? r.subject ?? r.user_id ?? '',
        actor: r.actor_login ?? r.actor_id ?? '',
        establishment: r.establishment_name ?? r.establishment_id ?? '',
        ip: r.ip ?? '',
        device: describeDevice(r.user_agent ?? '', req.lang),
        details: JSON.stringify(r.details ?? {}),
      })),
      nextHref: rows?.next ? `/audit${query(values, { avant: rows.next })}` : undefined,
    }, errors.length ? 400 : 200);
  }

  app.get('/audit', async (req, reply) => {
    if (!allowed(req)) return reply.callNotFound();
    const values = filterInput(req);
    const resolved = await resolveFilters(ctx.db, values);
    if (!resolved.ok) return page(req, reply, values, resolved.errors, undefined);
    const before = (req.query as Record<string, unknown>).avant;
    if (before !== undefined && (typeof before !== 'string' || !/^\d{1,18}$/.test(before))) {
      return page(req, reply, values, [{ field: 'avant', code: 'bad-page' }], undefined);
    }
    return page(req, reply, values, [], await auditPage(ctx.db, resolved.filters, before));
  });

  app.get('/audit/export.csv', async (req, reply) => {
    if (!allowed(req)) return reply.callNotFound();
    const values = filterInput(req);
    const resolved = await resolveFilters(ctx.db, values);
    if (!resolved.ok) return page(req, reply, values, resolved.errors, undefined);
    const upTo = await startExport(ctx, values, req.auth!.user.id, req.origin, 'web');
    const day = ctx.clock.now().toISOString().slice(0, 10);
    reply.header('Content-Disposition', `attachment; filename="journal-audit-${day}.csv"`);
    reply.header('Cache-Control', 'no-store');
    reply.type('text/csv; charset=utf-8');
    // Written page by page as the database answers: the whole log is never held in memory.
    // highWaterMark 1: at most one page waits for a slow client.
    return reply.send(Readable.from(csvExport(ctx.db, resolved.filters, upTo), { highWaterMark: 1 }));
  });
}
