import type { FastifyInstance } from 'fastify';
import { renderPage } from '../render.ts';
import { formatDate } from '../user-agent.ts';

/**
 * The development mailbox: registered only when no SMTP server is configured and not in production,
 * so that a newcomer can follow a reset link without any mail server.
 */
export async function devRoutes(app: FastifyInstance) {
  const { ctx } = app;

  app.get('/dev/boite-mail', async (req, reply) => {
    const rows = await ctx.db.selectFrom('dev_mailbox').select(['id', 'at', 'recipient', 'subject'])
      .orderBy('id', 'desc').limit(200).execute();
    const mails = rows.map((m) => ({ ...m, id: String(m.id), at: formatDate(m.at, req.lang) }));
    return renderPage(req, reply, 'mailbox', { title: req.t('mailbox.title'), mails });
  });

  // The mail's own HTML, as a mail client would show it; no script may run in it.
  app.get<{ Params: { id: string } }>('/dev/boite-mail/:id', async (req, reply) => {
    if (!/^\d{1,18}$/.test(req.params.id)) return reply.callNotFound();
    const mail = await ctx.db.selectFrom('dev_mailbox').selectAll().where('id', '=', req.params.id).executeTakeFirst();
    if (!mail) return reply.callNotFound();
    reply.header('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'");
    return reply.type('text/html; charset=utf-8').send(mail.body_html);
  });

  app.get<{ Params: { id: string } }>('/dev/boite-mail/:id/texte', async (req, reply) => {
    if (!/^\d{1,18}$/.test(req.params.id)) return reply.callNotFound();
    const mail = await ctx.db.selectFrom('dev_mailbox').selectAll().where('id', '=', req.params.id).executeTakeFirst();
    if (!mail) return reply.callNotFound();
    return reply.type('text/plain; charset=utf-8').send(mail.body_text);
  });
}
