import type { FastifyInstance } from 'fastify';
import { describeDuration } from '../../domain/durations.ts';
import { windowRemainingMs } from '../../domain/lockout.ts';
import { completeFirstConnection } from '../../flows/first-connection.ts';
import { login } from '../../flows/login.ts';
import { logout } from '../../flows/sessions.ts';
import { field } from '../form.ts';
import { renderMessage, renderPage, wordErrors } from '../render.ts';
import { loadChallenge, sendCode } from '../../flows/second-factor.ts';
import { clearSessionCookie, clearTrustCookie, DEVICE_COOKIE, homeFor, setChallengeCookie, setDeviceCookie, setSessionCookie, TRUST_COOKIE } from '../session-cookie.ts';

export async function loginRoutes(app: FastifyInstance) {
  const { ctx } = app;
  const { config } = ctx;

  app.get('/', async (req, reply) => reply.redirect(homeFor(req), 303));

  app.get('/connexion', async (req, reply) => {
    if (req.auth) return reply.redirect(homeFor(req), 303);
    const query = req.query as Record<string, string | undefined>;
    const notice = query.fin !== undefined ? req.t('login.loggedOut') : query.expiree !== undefined ? req.t('login.sessionEnded') : undefined;
    return renderPage(req, reply, 'login', { title: req.t('login.title'), notice });
  });

  app.post('/connexion', async (req, reply) => {
    const identifier = field(req.body, 'identifiant', 300);
    const password = field(req.body, 'mot_de_passe', 4096);
    const result = await login(ctx, identifier, password, req.origin, req.cookies[TRUST_COOKIE], req.cookies[DEVICE_COOKIE]);
    app.metrics.logins.inc({ outcome: result.ok ? 'success' : result.reason });
    if (result.ok) {
      // The browser may still hold an older session: it ends here, a sign-in always starts afresh.
      if (req.auth) await logout(ctx, req.auth.token, req.origin);
      if (result.dropTrustCookie) clearTrustCookie(reply);
      if (result.next === 'second-factor') {
        setChallengeCookie(reply, result.challengeToken);
        const open = await loadChallenge(ctx, result.challengeToken);
        // E-mail only: the code leaves at once, as in seed 003; otherwise the user chooses first.
        if (open && open.methods.length === 1) await sendCode(ctx, open, 'email', req.origin);
        return reply.redirect(open && open.methods.length > 1 ? '/verification/choix' : '/verification', 303);
      }
      setSessionCookie(reply, result.token);
      if (result.deviceToken) setDeviceCookie(reply, result.deviceToken);
      return reply.redirect(result.scope === 'password-change' ? '/premiere-connexion' : '/compte', 303);
    }
    const values = { identifiant: identifier.slice(0, 254) };
    if (result.reason === 'throttled') {
      const minutes = describeDuration(windowRemainingMs(ctx.clock.now(), config.ipFailureWindowMs), req.lang);
      reply.header('Retry-After', String(Math.ceil(windowRemainingMs(ctx.clock.now(), config.ipFailureWindowMs) / 1000)));
      return renderPage(req, reply, 'login', { title: req.t('login.title'), values, failed: req.t('login.throttled', { minutes }) }, 429);
    }
    return renderPage(req, reply, 'login', {
      title: req.t('login.title'),
      values,
      failed: req.t('login.failed'),
      failedHelp: req.t('login.failed.help', { threshold: config.lockoutThreshold, tempTtl: describeDuration(config.tempPasswordTtlMs, req.lang) }),
    }, 401);
  });

  app.post('/deconnexion', async (req, reply) => {
    if (req.auth) await logout(ctx, req.auth.token, req.origin);
    clearSessionCookie(reply);
    return reply.redirect('/connexion?fin', 303);
  });

  app.get('/premiere-connexion', async (req, reply) => {
    if (!req.auth || req.auth.session.scope !== 'password-change') return reply.redirect(homeFor(req), 303);
    return renderPage(req, reply, 'first-connection', { title: req.t('first.title') });
  });

  app.post('/premiere-connexion', async (req, reply) => {
    if (!req.auth || req.auth.session.scope !== 'password-change') return reply.redirect(homeFor(req), 303);
    const result = await completeFirstConnection(
      ctx,
      req.auth.user,
      field(req.body, 'nouveau_mot_de_passe'),
      field(req.body, 'confirmation'),
      req.origin,
    );
    if (!result.ok) {
      return renderPage(req, reply, 'first-connection', { title: req.t('first.title'), errors: wordErrors(req, result.errors) }, 400);
    }
    setSessionCookie(reply, result.token);
    return renderMessage(req, reply, {
      title: req.t('password.changed.title'),
      paragraphs: [req.t('password.changed')],
      links: [{ href: '/compte', label: req.t('nav.account') }],
    });
  });
}
