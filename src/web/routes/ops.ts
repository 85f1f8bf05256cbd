import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { LANG_COOKIE } from '../app.ts';
import { safeLocalPath } from '../form.ts';

/** For operators and the language switch: health, metrics, language choice. */
export async function opsRoutes(app: FastifyInstance) {
  const { ctx } = app;

  app.get('/healthz', async (_req, reply) => {
    await sql`select 1`.execute(ctx.db);
    return reply.send({ status: 'ok', database: ctx.engine });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.type(app.metrics.registry.contentType).send(await app.metrics.registry.metrics());
  });

  app.get<{ Params: { lang: string } }>('/langue/:lang', async (req, reply) => {
    const lang = req.params.lang === 'en' ? 'en' : 'fr';
    reply.setCookie(LANG_COOKIE, lang, { path: '/', sameSite: 'lax', secure: true, httpOnly: true, maxAge: 365 * 86400 });
    return reply.redirect(safeLocalPath((req.query as Record<string, unknown>).retour), 303);
  });
}
