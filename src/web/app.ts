import { fileURLToPath } from 'node:url';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyStatic from '@fastify/static';
import type { Context } from '../context.ts';
import { createCaptcha, type CaptchaService } from '../security/captcha.ts';
import { effectiveRoles } from '../flows/establishments.ts';
import { HasherBusyError } from '../security/hasher.ts';
import type { Origin } from '../store/audit.ts';
import type { Session, User } from '../store/schema.ts';
import { resolveSession } from '../store/sessions.ts';
import { loggablePath } from './form.ts';
import { pickLang, translator, type Lang, type Translate } from './i18n.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { renderMessage } from './render.ts';
import { apiRoutes } from './api/routes.ts';
import { accountRoutes } from './routes/account.ts';
import { auditRoutes } from './routes/audit.ts';
import { administrationRoutes } from './routes/administration.ts';
import { accountSecondFactorRoutes } from './routes/account-second-factor.ts';
import { accountPhoneRoutes } from './routes/account-phone.ts';
import { captchaRoutes } from './routes/captcha.ts';
import { devRoutes } from './routes/dev.ts';
import { loginRoutes } from './routes/login.ts';
import { opsRoutes } from './routes/ops.ts';
import { passkeyRoutes } from './routes/passkeys.ts';
import { recoveryRoutes } from './routes/recovery.ts';
import { secondFactorRoutes } from './routes/second-factor.ts';
import { supportRoutes } from './routes/support.ts';

export const SESSION_COOKIE = '__Host-sesame';
export const LANG_COOKIE = 'sesame-lang';
/** Form bodies are small; a 1 MB password is refused here, long before the hasher. */
export const BODY_LIMIT = 32 * 1024;

declare module 'fastify' {
  interface FastifyInstance {
    ctx: Context;
    captcha: CaptchaService;
    metrics: Metrics;
  }
  interface FastifyRequest {
    lang: Lang;
    t: Translate;
    origin: Origin;
    auth: { session: Session; user: User; token: string } | null;
    /** Global roles and establishment rights of the signed-in user (empty when signed out). */
    roles: string[];
  }
}

export interface AppOptions {
  captcha?: CaptchaService;
}

export async function buildApp(ctx: Context, options: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = ctx;
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    // Requests are logged once, by our onResponse hook, with tokens masked in the path.
    logController: new LogController({ disableRequestLogging: true }),
    // A hop count becomes a function: fastify's types accept addresses or booleans only.
    trustProxy: typeof config.trustProxy === 'number'
      ? ((hops: number) => (_address: string, hop: number) => hop < hops)(config.trustProxy)
      : config.trustProxy,
    bodyLimit: BODY_LIMIT,
    requestIdHeader: false,
    routerOptions: { maxParamLength: 200 },
  });
  app.decorate('ctx', ctx);
  app.decorate('captcha', options.captcha ?? createCaptcha(config, ctx.db, ctx.clock));
  app.decorate('metrics', createMetrics(ctx));
  app.decorateRequest('lang', 'fr');
  app.decorateRequest('t', null as unknown as Translate);
  app.decorateRequest('origin', null as unknown as Origin);
  app.decorateRequest('auth', null);
  app.decorateRequest('roles', null as unknown as string[]);

  await app.register(fastifyCookie);
  await app.register(fastifyFormbody, { bodyLimit: BODY_LIMIT });
  await app.register(fastifyCsrf, {
    cookieKey: '__Host-csrf',
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, secure: true },
    getToken: (req: FastifyRequest) => {
      const body = req.body as Record<string, unknown> | undefined;
      return typeof body?._csrf === 'string' ? body._csrf : undefined;
    },
  });
  await app.register(fastifyStatic, {
    root: fileURLToPath(new URL('./assets', import.meta.url)),
    prefix: '/assets/',
    maxAge: '1h',
    index: false,
  });

  app.addHook('onRequest', async (req) => {
    req.lang = pickLang(req.cookies[LANG_COOKIE], req.headers['accept-language']);
    req.t = translator(req.lang);
    const ua = req.headers['user-agent'];
    req.origin = { ip: req.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : '' };
    const token = req.cookies[SESSION_COOKIE];
    if (token && token.length <= 64) {
      const found = await resolveSession(ctx.db, token, ctx.clock.now(), { idleMs: config.sessionIdleTtlMs, maxMs: config.sessionMaxTtlMs });
      req.auth = found ? { ...found, token } : null;
    }
    req.roles = req.auth?.session.scope === 'full' ? await effectiveRoles(ctx.db, req.auth.user) : [];
  });

  // Every POST carries the form's CSRF token: checked once here rather than route by route.
  app.addHook('preHandler', (req, reply, done) => {
    if (req.method !== 'POST' || (req.routeOptions.config as { csrf?: boolean }).csrf === false) return done();
    app.csrfProtection(req, reply, done);
  });

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    reply.header('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
    if (!reply.hasHeader('Referrer-Policy')) reply.header('Referrer-Policy', 'same-origin');
    if (!reply.hasHeader('Content-Security-Policy')) {
      reply.header('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'");
    }
    if (config.publicUrl.protocol === 'https:') reply.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    const type = String(reply.getHeader('content-type') ?? '');
    if (type.startsWith('text/html') || type.startsWith('application/json')) reply.header('Cache-Control', 'no-store');
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    app.metrics.httpRequests.inc({ method: req.method, status: String(reply.statusCode) });
    req.log.info({ method: req.method, path: loggablePath(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  app.setErrorHandler((error: FastifyError, req, reply) => handleError(error, req, reply));
  app.setNotFoundHandler((req, reply) => {
    ensureRequestContext(req);
    return renderMessage(req, reply, { title: req.t('page.notFound.title'), paragraphs: [req.t('page.notFound')], kind: 'info', links: [{ href: '/', label: req.t('page.home') }] }, 404);
  });

  await app.register(loginRoutes);
  await app.register(recoveryRoutes);
  await app.register(secondFactorRoutes);
  await app.register(accountRoutes);
  await app.register(administrationRoutes);
  await app.register(passkeyRoutes);
  await app.register(accountSecondFactorRoutes);
  await app.register(accountPhoneRoutes);
  await app.register(captchaRoutes);
  await app.register(opsRoutes);
  await app.register(auditRoutes);
  await app.register(supportRoutes);
  await app.register(apiRoutes, { prefix: '/api/v1' });
  if (config.devMailbox) await app.register(devRoutes);
  return app;
}

/** Errors raised before onRequest ran (a body too large, say) still get a French page. */
function ensureRequestContext(req: FastifyRequest): void {
  if (!req.t) {
    req.lang = 'fr';
    req.t = translator('fr');
  }
}

/** Bad input gets a clear 4xx page; anything else a plain 500 page. Never a stack trace. */
function handleError(error: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  ensureRequestContext(req);
  const { t } = req;
  if (error instanceof HasherBusyError) {
    reply.header('Retry-After', '2');
    return renderMessage(req, reply, { title: t('page.error.title'), paragraphs: [t('page.busy')], kind: 'error' }, 503);
  }
  const status = error.statusCode ?? 500;
  if (error.code?.startsWith('FST_CSRF') || (status === 403 && /csrf/i.test(error.message))) {
    return renderMessage(req, reply, { title: t('page.error.title'), paragraphs: [t('page.csrf')], kind: 'error', links: [{ href: req.url.split('?')[0] ?? '/', label: t('page.home') }] }, 403);
  }
  if (status === 413) {
    return renderMessage(req, reply, { title: t('page.error.title'), paragraphs: [t('page.tooLarge')], kind: 'error' }, 413);
  }
  if (status >= 400 && status < 500) {
    return renderMessage(req, reply, { title: t('page.error.title'), paragraphs: [t('page.badRequest')], kind: 'error' }, status === 415 ? 415 : 400);
  }
  req.log.error({ err: { message: error.message, code: error.code, stack: error.stack }, path: loggablePath(req.url) }, 'request failed');
  return renderMessage(req, reply, { title: t('page.error.title'), paragraphs: [t('page.error')], kind: 'error' }, 500);
}
