import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeDuration } from '../../domain/durations.ts';
import { windowRemainingMs } from '../../domain/lockout.ts';
import type { FieldError } from '../../flows/common.ts';
import { isStaff } from '../../flows/authorization.ts';
import {
  findRequest, handleRequest, openRequests, performSupportAction, reportNotMe, searchUsers, userDetails,
  MESSAGE_MAX, REASON_MAX, RESOLUTION_MAX, type SupportAction,
} from '../../flows/support.ts';
import { ipFailures } from '../../store/throttle.ts';
import { field } from '../form.ts';
import { isMessageKey, type MessageKey } from '../i18n.ts';
import { renderMessage, renderPage, type ShownError } from '../render.ts';
import { describeDevice, formatDate } from '../user-agent.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** URL slug → action, and the wording of each. Destructive ones say so on their confirmation page. */
const ACTIONS: Record<string, { action: SupportAction; label: MessageKey; explain: MessageKey; done: MessageKey; destructive: boolean }> = {
  'mot-de-passe': { action: 'reset-password', label: 'support.action.resetPassword', explain: 'support.action.resetPassword.explain', done: 'support.done.resetPassword', destructive: true },
  deverrouiller: { action: 'unlock', label: 'support.action.unlock', explain: 'support.action.unlock.explain', done: 'support.done.unlock', destructive: false },
  'double-authentification': { action: 'reset-second-factor', label: 'support.action.resetSecondFactor', explain: 'support.action.resetSecondFactor.explain', done: 'support.done.resetSecondFactor', destructive: true },
  sessions: { action: 'end-sessions', label: 'support.action.endSessions', explain: 'support.action.endSessions.explain', done: 'support.done.endSessions', destructive: true },
  desactiver: { action: 'disable', label: 'support.action.disable', explain: 'support.action.disable.explain', done: 'support.done.disable', destructive: true },
  reactiver: { action: 'enable', label: 'support.action.enable', explain: 'support.action.enable.explain', done: 'support.done.enable', destructive: false },
};

const FIELD_LABELS: Record<string, MessageKey> = {
  motif: 'support.reason',
  resolution: 'support.resolution',
  email: 'notMe.email',
  message: 'notMe.message',
  captcha: 'captcha.label',
};

/** Errors worded with the label of the field they belong to (« Motif », « Résolution »…). */
function wordSupportErrors(req: FastifyRequest, errors: FieldError[]): ShownError[] {
  return errors.map((e) => {
    const label = req.t(FIELD_LABELS[e.field] ?? 'support.reason');
    const key = `error.${e.code}`;
    return { field: e.field, message: isMessageKey(key) ? req.t(key, { label, min: 0, max: 0, ...e.vars }) : req.t('error.required', { label }) };
  });
}

export async function supportRoutes(app: FastifyInstance) {
  const { ctx } = app;
  const { config } = ctx;

  // The desk: only for a full session holding the global role 'support'; everyone else gets a 404,
  // before the CSRF check, so that the routes' existence is not revealed either.
  await app.register(async (desk) => {
    desk.addHook('preValidation', async (req, reply) => {
      if (req.auth?.session.scope === 'full' && isStaff(req.roles ?? [], 'support')) return;
      await renderMessage(req, reply, { title: req.t('page.notFound.title'), paragraphs: [req.t('page.notFound')], kind: 'info', links: [{ href: '/', label: req.t('page.home') }] }, 404);
      return reply;
    });

    desk.get('/support', async (req, reply) => {
      const q = field(req.query, 'q', 200).trim();
      const pageNumber = Number(field(req.query, 'page', 6));
      const page = Number.isInteger(pageNumber) && pageNumber >= 1 && pageNumber <= 10_000 ? pageNumber : 1;
      const found = await searchUsers(ctx, q, page);
      const requests = (await openRequests(ctx)).map((r) => ({
        id: r.id,
        kind: req.t(kindKey(r.kind)),
        at: formatDate(r.created_at, req.lang),
        email: r.email ?? '',
        login: r.login ?? '',
        userId: r.user_id,
        message: r.message,
      }));
      const link = (p: number) => `/support?q=${encodeURIComponent(q)}&page=${p}`;
      return renderPage(req, reply, 'support-home', {
        title: req.t('support.title'),
        q,
        values: { q },
        searched: Boolean(q),
        results: found.rows.map((u) => ({ ...u, status: req.t(statusKey(u)) })),
        page,
        previous: page > 1 ? link(page - 1) : null,
        next: found.hasNext ? link(page + 1) : null,
        requests,
        notices: field(req.query, 'ok', 20) === 'demande' ? [req.t('support.request.done')] : [],
      });
    });

    const showUser = async (req: FastifyRequest, reply: FastifyReply, id: string, notices: string[]) => {
      const details = UUID.test(id) ? await userDetails(ctx, id) : undefined;
      if (!details) return notFound(req, reply);
      const { user } = details;
      return renderPage(req, reply, 'support-user', {
        title: req.t('support.user.title', { login: user.login }),
        subject: {
          ...user,
          statusLabel: req.t(statusKey({ locked_at: user.lockedAt, disabled_at: user.disabledAt })),
          lockedAt: user.lockedAt ? formatDate(user.lockedAt, req.lang) : '',
          disabledAt: user.disabledAt ? formatDate(user.disabledAt, req.lang) : '',
          temporaryUntil: user.temporaryUntil ? formatDate(user.temporaryUntil, req.lang) : '',
        },
        methods: details.methods.map((m) => req.t(`support.method.${m}` as MessageKey)),
        sessions: details.sessions.map((s) => ({
          device: describeDevice(s.user_agent, req.lang), ip: s.ip,
          started: formatDate(s.created_at, req.lang), last: formatDate(s.last_seen_at, req.lang),
        })),
        trusted: details.trusted.map((b) => ({
          device: describeDevice(b.user_agent, req.lang), since: formatDate(b.created_at, req.lang), until: formatDate(b.expires_at, req.lang),
        })),
        establishments: details.establishments,
        events: details.events.map((e) => {
          const key = `audit.${e.type}`;
          return { at: formatDate(e.at, req.lang), what: isMessageKey(key) ? req.t(key) : e.type, ip: e.ip ?? '', device: describeDevice(e.user_agent ?? '', req.lang) };
        }),
        actions: Object.entries(ACTIONS)
          .filter(([, a]) => (a.action === 'disable' ? !user.disabledAt : a.action === 'enable' ? Boolean(user.disabledAt) : true))
          .filter(([, a]) => a.action !== 'unlock' || Boolean(user.lockedAt) || user.failedCount > 0)
          .map(([slug, a]) => ({ href: `/support/utilisateurs/${user.id}/actions/${slug}`, label: req.t(a.label), destructive: a.destructive })),
        notices,
      });
    };

    desk.get<{ Params: { id: string } }>('/support/utilisateurs/:id', async (req, reply) => {
      const ok = field(req.query, 'ok', 40);
      const done = Object.values(ACTIONS).find((a) => a.action === ok);
      return showUser(req, reply, req.params.id, done ? [req.t(done.done)] : []);
    });

    const showAction = async (req: FastifyRequest, reply: FastifyReply, id: string, slug: string, errors: FieldError[], reason: string, status = 200) => {
      const action = Object.hasOwn(ACTIONS, slug) ? ACTIONS[slug] : undefined;
      const details = action && UUID.test(id) ? await userDetails(ctx, id) : undefined;
      if (!action || !details) return notFound(req, reply);
      return renderPage(req, reply, 'support-action', {
        title: req.t(action.label),
        subject: { id: details.user.id, login: details.user.login, name: details.user.name, email: details.user.email },
        actionLabel: req.t(action.label),
        explain: req.t(action.explain),
        destructive: action.destructive,
        formAction: `/support/utilisateurs/${details.user.id}/actions/${slug}`,
        values: { motif: reason },
        reasonMax: REASON_MAX,
        errors: wordSupportErrors(req, errors),
      }, status);
    };

    desk.get<{ Params: { id: string; action: string } }>('/support/utilisateurs/:id/actions/:action', async (req, reply) =>
      showAction(req, reply, req.params.id, req.params.action, [], ''));

    desk.post<{ Params: { id: string; action: string } }>('/support/utilisateurs/:id/actions/:action', async (req, reply) => {
      const { id, action: slug } = req.params;
      const action = Object.hasOwn(ACTIONS, slug) ? ACTIONS[slug] : undefined;
      if (!action || !UUID.test(id)) return notFound(req, reply);
      const reason = field(req.body, 'motif', REASON_MAX + 1);
      const result = await performSupportAction(ctx, req.auth!.user.id, id, action.action, reason, req.origin);
      if (result.ok) return reply.redirect(`/support/utilisateurs/${id}?ok=${action.action}`, 303);
      if ('unknown' in result) return notFound(req, reply);
      return showAction(req, reply, id, slug, result.errors, reason.slice(0, REASON_MAX), 400);
    });

    const showRequest = async (req: FastifyRequest, reply: FastifyReply, id: string, errors: FieldError[], resolution: string, status = 200) => {
      const request = UUID.test(id) ? await findRequest(ctx, id) : undefined;
      if (!request) return notFound(req, reply);
      return renderPage(req, reply, 'support-request', {
        title: req.t('support.request.title'),
        request: {
          id: request.id,
          kind: req.t(kindKey(request.kind)),
          at: formatDate(request.created_at, req.lang),
          email: request.email ?? '',
          login: request.login ?? '',
          userId: request.user_id,
          message: request.message,
          ip: request.ip,
          device: describeDevice(request.user_agent, req.lang),
          handledAt: request.handled_at ? formatDate(request.handled_at, req.lang) : '',
          resolution: request.resolution ?? '',
        },
        values: { resolution },
        resolutionMax: RESOLUTION_MAX,
        errors: wordSupportErrors(req, errors),
      }, status);
    };

    desk.get<{ Params: { id: string } }>('/support/demandes/:id', async (req, reply) => showRequest(req, reply, req.params.id, [], ''));

    desk.post<{ Params: { id: string } }>('/support/demandes/:id', async (req, reply) => {
      const { id } = req.params;
      if (!UUID.test(id)) return notFound(req, reply);
      const resolution = field(req.body, 'resolution', RESOLUTION_MAX + 1);
      const result = await handleRequest(ctx, req.auth!.user.id, id, resolution, req.origin);
      if (result.ok) return reply.redirect('/support?ok=demande', 303);
      if ('unknown' in result) return showRequest(req, reply, id, [], '', 409);
      return showRequest(req, reply, id, result.errors, resolution.slice(0, RESOLUTION_MAX), 400);
    });
  });

  // « Ce n'était pas moi »: public, captcha and IP throttle as on the recovery pages.
  const notMeTitle = (req: FastifyRequest) => req.t('notMe.title');

  app.get('/ce-n-etait-pas-moi', async (req, reply) => {
    const values = { email: field(req.query, 'email', 254) };
    return renderPage(req, reply, 'support-not-me', { title: notMeTitle(req), values, messageMax: MESSAGE_MAX, captcha: await app.captcha.prepare(req.lang) });
  });

  app.post('/ce-n-etait-pas-moi', async (req, reply) => {
    const title = notMeTitle(req);
    const email = field(req.body, 'email', 254).trim();
    const message = field(req.body, 'message', MESSAGE_MAX + 1);
    const now = ctx.clock.now();
    if (await ipFailures(ctx.db, req.origin.ip, now, config.ipFailureWindowMs) >= config.ipFailureLimit) {
      reply.header('Retry-After', String(Math.ceil(windowRemainingMs(now, config.ipFailureWindowMs) / 1000)));
      return renderPage(req, reply, 'support-not-me', {
        title, values: { email, message }, messageMax: MESSAGE_MAX, captcha: await app.captcha.prepare(req.lang),
        errors: [{ field: 'captcha', message: req.t('login.throttled', { minutes: describeDuration(windowRemainingMs(now, config.ipFailureWindowMs), req.lang) }) }],
      }, 429);
    }
    const captchaOk = await app.captcha.verify(req.body as Record<string, unknown>);
    const result = captchaOk ? await reportNotMe(ctx, email, message, req.origin) : undefined;
    if (!result?.ok) {
      const errors: FieldError[] = [];
      if (result && !result.ok) errors.push(...result.errors);
      else {
        if (!email) errors.push({ field: 'email', code: 'required' });
        errors.push({ field: 'captcha', code: 'captcha' });
      }
      return renderPage(req, reply, 'support-not-me', {
        title, values: { email, message: message.slice(0, MESSAGE_MAX) }, messageMax: MESSAGE_MAX,
        errors: wordSupportErrors(req, errors), captcha: await app.captcha.prepare(req.lang),
      }, 400);
    }
    const contact = config.supportPhone ? `${config.supportEmail} · ${config.supportPhone}` : config.supportEmail;
    return renderMessage(req, reply, {
      title: req.t('notMe.done.title'),
      paragraphs: [req.t('notMe.done'), req.t('forgotId.support', { contact })],
      kind: 'success',
      links: [{ href: '/connexion', label: req.t('nav.login') }],
    });
  });
}

function notFound(req: FastifyRequest, reply: FastifyReply) {
  return renderMessage(req, reply, { title: req.t('page.notFound.title'), paragraphs: [req.t('page.notFound')], kind: 'info', links: [{ href: '/support', label: req.t('support.title') }] }, 404);
}

function kindKey(kind: string): MessageKey {
  if (kind === 'not-me') return 'support.kind.notMe';
  if (kind === 'forgotten-identifier') return 'support.kind.forgottenIdentifier';
  return 'support.kind.other';
}

function statusKey(user: { locked_at: Date | null; disabled_at: Date | null }): MessageKey {
  if (user.disabled_at) return 'support.status.disabled';
  if (user.locked_at) return 'support.status.locked';
  return 'support.status.active';
}
