import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeDuration } from '../../domain/durations.ts';
import { windowRemainingMs } from '../../domain/lockout.ts';
import { isValidEmail } from '../../domain/identifiers.ts';
import { isTokenShaped } from '../../domain/tokens.ts';
import type { FieldError } from '../../flows/common.ts';
import { requestIdentifierReminder } from '../../flows/forgotten-identifier.ts';
import { completePasswordReset, inspectResetLink, requestPasswordReset } from '../../flows/forgotten-password.ts';
import { ipFailures } from '../../store/throttle.ts';
import { field } from '../form.ts';
import { renderMessage, renderPage, wordErrors } from '../render.ts';

/** « Mot de passe oublié », « Identifiant oublié ? » and the page behind the mailed link. */
export async function recoveryRoutes(app: FastifyInstance) {
  const { ctx } = app;
  const { config } = ctx;

  const throttled = async (req: FastifyRequest, reply: FastifyReply, view: string, title: string) => {
    if (await ipFailures(ctx.db, req.origin.ip, ctx.clock.now(), config.ipFailureWindowMs) < config.ipFailureLimit) return false;
    reply.header('Retry-After', String(Math.ceil(windowRemainingMs(ctx.clock.now(), config.ipFailureWindowMs) / 1000)));
    await renderPage(req, reply, view, {
      title,
      captcha: await app.captcha.prepare(req.lang),
      errors: [{ field: 'captcha', message: req.t('login.throttled', { minutes: describeDuration(windowRemainingMs(ctx.clock.now(), config.ipFailureWindowMs), req.lang) }) }],
    }, 429);
    return true;
  };

  app.get('/mot-de-passe-oublie', async (req, reply) => {
    const values = { identifiant: field(req.query, 'identifiant', 254) };
    return renderPage(req, reply, 'forgot-password', { title: req.t('forgot.title'), values, captcha: await app.captcha.prepare(req.lang) });
  });

  app.post('/mot-de-passe-oublie', async (req, reply) => {
    const title = req.t('forgot.title');
    if (await throttled(req, reply, 'forgot-password', title)) return reply;
    const identifier = field(req.body, 'identifiant', 254).trim();
    const errors: FieldError[] = [];
    if (!identifier) errors.push({ field: 'identifiant', code: 'required' });
    if (!(await app.captcha.verify(req.body as Record<string, unknown>))) errors.push({ field: 'captcha', code: 'captcha' });
    if (errors.length > 0) {
      return renderPage(req, reply, 'forgot-password', {
        title, values: { identifiant: identifier }, errors: wordErrors(req, errors), captcha: await app.captcha.prepare(req.lang),
      }, 400);
    }
    await requestPasswordReset(ctx, identifier, req.origin);
    return renderMessage(req, reply, {
      title: req.t('forgot.done.title'),
      paragraphs: [req.t('forgot.done', { identifier, ttl: describeDuration(config.resetLinkTtlMs, req.lang) }), req.t('forgot.done.help')],
      links: [{ href: '/connexion', label: req.t('nav.login') }],
    });
  });

  app.get('/identifiant-oublie', async (req, reply) => {
    return renderPage(req, reply, 'forgot-identifier', { title: req.t('forgotId.title'), captcha: await app.captcha.prepare(req.lang) });
  });

  app.post('/identifiant-oublie', async (req, reply) => {
    const title = req.t('forgotId.title');
    if (await throttled(req, reply, 'forgot-identifier', title)) return reply;
    const email = field(req.body, 'email', 254).trim();
    const errors: FieldError[] = [];
    if (!email) errors.push({ field: 'email', code: 'required' });
    else if (!isValidEmail(email)) errors.push({ field: 'email', code: 'invalid-email' });
    if (!(await app.captcha.verify(req.body as Record<string, unknown>))) errors.push({ field: 'captcha', code: 'captcha' });
    if (errors.length > 0) {
      return renderPage(req, reply, 'forgot-identifier', {
        title, values: { email }, errors: wordErrors(req, errors), captcha: await app.captcha.prepare(req.lang),
      }, 400);
    }
    await requestIdentifierReminder(ctx, email, req.origin);
    const contact = config.supportPhone ? `${config.supportEmail} · ${config.supportPhone}` : config.supportEmail;
    return renderMessage(req, reply, {
      title: req.t('forgot.done.title'),
      paragraphs: [req.t('forgotId.done', { email }), req.t('forgotId.support', { contact })],
      links: [{ href: '/connexion', label: req.t('nav.login') }],
    });
  });

  const invalidLink = (req: FastifyRequest, reply: FastifyReply) => renderMessage(req, reply, {
    title: req.t('reset.invalid.title'),
    paragraphs: [req.t('reset.invalid')],
    kind: 'error',
    links: [{ href: '/mot-de-passe-oublie', label: req.t('reset.invalid.again') }],
  }, 410);

  // The token is in the path: the page must not leak it to another site through the Referer header.
  app.get<{ Params: { token: string } }>('/reinitialisation/:token', async (req, reply) => {
    reply.header('Referrer-Policy', 'no-referrer');
    const { token } = req.params;
    const state = isTokenShaped(token) ? await inspectResetLink(ctx, token) : { valid: false as const };
    if (!state.valid) return invalidLink(req, reply);
    return renderPage(req, reply, 'reset', { title: req.t('reset.title'), token, resetUser: { login: state.user.login } });
  });

  app.post<{ Params: { token: string } }>('/reinitialisation/:token', async (req, reply) => {
    reply.header('Referrer-Policy', 'no-referrer');
    const { token } = req.params;
    if (!isTokenShaped(token)) return invalidLink(req, reply);
    const result = await completePasswordReset(ctx, token, field(req.body, 'nouveau_mot_de_passe'), field(req.body, 'confirmation'), req.origin);
    if (result.ok) {
      return renderMessage(req, reply, {
        title: req.t('password.changed.title'),
        paragraphs: [req.t('reset.done')],
        links: [{ href: '/connexion', label: req.t('nav.login') }],
      });
    }
    if ('linkInvalid' in result) return invalidLink(req, reply);
    const state = await inspectResetLink(ctx, token);
    if (!state.valid) return invalidLink(req, reply);
    return renderPage(req, reply, 'reset', {
      title: req.t('reset.title'), token, resetUser: { login: state.user.login }, errors: wordErrors(req, result.errors),
    }, 400);
  });
}
