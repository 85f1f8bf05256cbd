import type { FastifyInstance } from 'fastify';

/**
 * What the captcha needs besides the forms (see src/security/captcha.ts):
 * - GET /captcha/defi: a fresh proof-of-work challenge for /assets/captcha.js (mode pow), when the one
 *   in the page is about to expire;
 * - GET /captcha/image/<token>.svg: the image of a « Code à recopier » challenge (mode image).
 * Both answer 404 in the other mode, and never let a browser or a proxy keep a copy.
 */
export async function captchaRoutes(app: FastifyInstance) {
  app.get('/captcha/defi', async (req, reply) => {
    const challenge = app.captcha.challenge ? await app.captcha.challenge() : null;
    if (!challenge) return reply.callNotFound();
    reply.header('Cache-Control', 'no-store');
    return reply.type('application/json; charset=utf-8').send({ challenge });
  });

  app.get<{ Params: { file: string } }>('/captcha/image/:file', async (req, reply) => {
    const file = req.params.file;
    const svg = file.endsWith('.svg') && app.captcha.image ? await app.captcha.image(file.slice(0, -4)) : null;
    if (!svg) return reply.callNotFound();
    reply.header('Cache-Control', 'no-store');
    return reply.type('image/svg+xml; charset=utf-8').send(svg);
  });
}
