import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { displayedRules } from '../domain/password-policy.ts';
import type { FieldError } from '../flows/common.ts';
import { isMessageKey, type MessageKey } from './i18n.ts';

const eta = new Eta({ views: fileURLToPath(new URL('./views', import.meta.url)), autoEscape: true, cache: true });

/** The label each form field is known by in error messages. */
const FIELD_LABELS: Record<string, MessageKey> = {
  identifiant: 'login.identifier',
  mot_de_passe: 'login.password',
  nouveau_mot_de_passe: 'password.new',
  confirmation: 'password.confirm',
  ancien_mot_de_passe: 'password.current',
  mot_de_passe_actuel: 'password.reauth',
  email: 'forgotId.email',
  captcha: 'captcha.label',
  code: '2fa.code',
  methode: '2fa.choose',
  nom: 'account.name',
  droits: 'admin.rights',
};

export interface ShownError {
  field: string;
  message: string;
}

export function wordErrors(req: FastifyRequest, errors: FieldError[]): ShownError[] {
  const { t } = req;
  const config = req.server.ctx.config;
  return errors.map((e) => {
    const label = t(FIELD_LABELS[e.field] ?? 'login.identifier');
    const key = `error.${e.code}`;
    const message = isMessageKey(key)
      ? t(key, { label, min: config.passwordMinLength, max: 512, ...e.vars })
      : t('error.required', { label });
    return { field: e.field, message };
  });
}

/** Renders a page with everything the layout needs; values are escaped by the templates. */
export function renderPage(
  req: FastifyRequest,
  reply: FastifyReply,
  view: string,
  data: Record<string, unknown> & { title: string },
  status = 200,
): FastifyReply {
  const { ctx } = req.server;
  const html = eta.render(view, {
    values: {},
    errors: [],
    ...data,
    t: req.t,
    lang: req.lang,
    path: req.url.split('?')[0],
    portalName: ctx.config.portalName,
    supportEmail: ctx.config.supportEmail,
    supportPhone: ctx.config.supportPhone,
    user: req.auth?.user,
    fullSession: req.auth?.session.scope === 'full',
    nav: {
      admin: (req.roles ?? []).includes('admin'),
      support: (req.roles ?? []).includes('support'),
      platformAdmin: (req.roles ?? []).includes('platform-admin'),
    },
    csrf: reply.generateCsrf(),
    policy: {
      minLength: ctx.config.passwordMinLength,
      history: ctx.config.passwordHistory,
      rules: displayedRules({ minLength: ctx.config.passwordMinLength, requireClasses: true }),
    },
  });
  return reply.code(status).type('text/html; charset=utf-8').send(html);
}

/** A page that only says something: confirmations, invalid links, errors. */
export function renderMessage(
  req: FastifyRequest,
  reply: FastifyReply,
  options: { title: string; paragraphs: string[]; kind?: 'success' | 'error' | 'info'; links?: { href: string; label: string }[] },
  status = 200,
): FastifyReply {
  return renderPage(req, reply, 'message', options, status);
}
