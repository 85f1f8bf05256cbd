import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { describeDuration } from '../../domain/durations.ts';
import { maskEmail, maskPhone } from '../../domain/masking.ts';
import { cleanOtpInput, cleanRecoveryInput } from '../../domain/otp.ts';
import type { FieldError } from '../../flows/common.ts';
import {
  chooseMethod, codeCheck, codeDeliveryFailing, guess, loadChallenge, sendCode, type OpenChallenge, type SendOutcome,
} from '../../flows/second-factor.ts';
import { recoveryCheck, totpCheck } from '../../flows/second-factor-methods.ts';
import type { SecondFactorMethod } from '../../store/schema.ts';
import { checked, field } from '../form.ts';
import type { MessageKey } from '../i18n.ts';
import { renderPage, wordErrors } from '../render.ts';
import { CHALLENGE_COOKIE, clearChallengeCookie, DEVICE_COOKIE, enterAfterSecondFactor } from '../session-cookie.ts';

const METHOD_LABEL: Record<SecondFactorMethod, MessageKey> = {
  email: '2fa.method.email',
  sms: '2fa.method.sms',
  totp: '2fa.method.totp',
  webauthn: '2fa.method.webauthn',
  recovery: '2fa.method.recovery',
};

/** « Authentification à deux facteurs »: the page between the password and the session. */
export async function secondFactorRoutes(app: FastifyInstance) {
  const { ctx } = app;

  const current = (req: FastifyRequest) => loadChallenge(ctx, req.cookies[CHALLENGE_COOKIE]);

  const backToLogin = (req: FastifyRequest, reply: FastifyReply, message: MessageKey, status = 401) => {
    clearChallengeCookie(reply);
    return renderPage(req, reply, 'login', { title: req.t('login.title'), failed: req.t(message) }, status);
  };

  const sendNotice = (req: FastifyRequest, outcome: SendOutcome): string | undefined => {
    if (outcome.ok) return undefined;
    if (outcome.reason === 'cooldown') return req.t('2fa.cooldown', { seconds: Math.ceil(outcome.waitMs / 1000) });
    return req.t('2fa.cap');
  };

  const showCode = async (
    req: FastifyRequest,
    reply: FastifyReply,
    open: OpenChallenge,
    extra: { errors?: FieldError[]; notice?: string; values?: Record<string, string> } = {},
    status = 200,
  ) => {
    const { challenge, user, methods } = open;
    const method = challenge.method ?? 'email';
    const destination = method === 'sms'
      ? req.t('2fa.sent.sms', { dest: maskPhone(user.backup_phone ?? '') })
      : method === 'totp' ? req.t('2fa.totp.info', { portal: ctx.config.portalName })
        : method === 'recovery' ? req.t('2fa.recovery.info')
          : req.t(methods.length === 1 ? '2fa.sent.only' : '2fa.sent.email', { dest: maskEmail(user.email) });
    const failing = (method === 'sms' || method === 'email') && await codeDeliveryFailing(ctx, challenge);
    return renderPage(req, reply, 'second-factor-code', {
      title: req.t('2fa.title'),
      method,
      methods,
      destination,
      codeLabel: req.t(method === 'recovery' ? '2fa.recovery.label' : '2fa.code'),
      codeHint: req.t(method === 'recovery' ? '2fa.recovery.hint' : method === 'totp' ? '2fa.totp.hint' : '2fa.code.hint'),
      trustDuration: describeDuration(ctx.config.trustedBrowserTtlMs, req.lang),
      canResend: method === 'email' || method === 'sms',
      warning: failing ? req.t('2fa.smsFailing') : undefined,
      notice: extra.notice,
      values: extra.values ?? {},
      errors: wordErrors(req, extra.errors ?? []),
    }, status);
  };

  const showChoice = (req: FastifyRequest, reply: FastifyReply, open: OpenChallenge, errors: FieldError[] = [], status = 200) => {
    const options = open.methods.map((m) => ({
      value: m,
      label: req.t(METHOD_LABEL[m]),
      detail: m === 'email' ? maskEmail(open.user.email) : m === 'sms' ? maskPhone(open.user.backup_phone ?? '') : undefined,
    }));
    return renderPage(req, reply, 'second-factor-choice', { title: req.t('2fa.title'), options, errors: wordErrors(req, errors) }, status);
  };

  app.get('/verification', async (req, reply) => {
    const open = await current(req);
    if (!open) return backToLogin(req, reply, '2fa.expired');
    if (!open.challenge.method && open.methods.length > 1) return reply.redirect('/verification/choix', 303);
    if (open.challenge.method === 'webauthn') return reply.redirect('/verification/cle', 303);
    return showCode(req, reply, open);
  });

  app.get('/verification/choix', async (req, reply) => {
    const open = await current(req);
    if (!open) return backToLogin(req, reply, '2fa.expired');
    if (open.methods.length === 1) return reply.redirect('/verification', 303);
    return showChoice(req, reply, open);
  });

  app.post('/verification/choix', async (req, reply) => {
    const open = await current(req);
    if (!open) return backToLogin(req, reply, '2fa.expired');
    const method = field(req.body, 'methode', 20) as SecondFactorMethod;
    const outcome = await chooseMethod(ctx, open, method, req.origin);
    if (!outcome.ok && outcome.reason === 'unavailable') return showChoice(req, reply, open, [{ field: 'methode', code: 'required' }], 400);
    if (method === 'webauthn') return reply.redirect('/verification/cle', 303);
    const reloaded = (await current(req)) ?? open;
    return showCode(req, reply, reloaded, { notice: outcome.ok ? undefined : sendNotice(req, outcome as SendOutcome) });
  });

  app.post('/verification/renvoi', async (req, reply) => {
    const open = await current(req);
    if (!open) return backToLogin(req, reply, '2fa.expired');
    const method = open.challenge.method;
    if (method !== 'email' && method !== 'sms') return showCode(req, reply, open);
    const outcome = await sendCode(ctx, open, method, req.origin);
    const reloaded = (await current(req)) ?? open;
    return showCode(req, reply, reloaded, { notice: outcome.ok ? req.t('2fa.resent') : sendNotice(req, outcome) }, outcome.ok ? 200 : 429);
  });

  app.post('/verification/annuler', async (req, reply) => {
    const open = await current(req);
    if (open) await ctx.db.deleteFrom('login_challenges').where('id', '=', open.challenge.id).execute();
    clearChallengeCookie(reply);
    return reply.redirect('/connexion', 303);
  });

  app.post('/verification', async (req, reply) => {
    const open = await current(req);
    if (!open) return backToLogin(req, reply, '2fa.expired');
    const method = open.challenge.method ?? 'email';
    const raw = field(req.body, 'code', 64);
    const trust = checked(req.body, 'confiance');
    const values = { confiance: trust ? '1' : '' };
    const cleaned = method === 'recovery' ? cleanRecoveryInput(raw) : cleanOtpInput(raw);
    if (!cleaned) {
      return showCode(req, reply, open, { values, errors: [{ field: 'code', code: raw ? (method === 'recovery' ? 'recovery-format' : 'code-format') : 'required' }] }, 400);
    }
    const check = method === 'totp' ? totpCheck(ctx, open, cleaned)
      : method === 'recovery' ? recoveryCheck(ctx, open, cleaned)
        : codeCheck(ctx, open, cleaned);
    const outcome = await guess(ctx, open, check, trust, req.origin, req.cookies[DEVICE_COOKIE]);
    if (outcome.ok) return enterAfterSecondFactor(reply, outcome, ctx.config.trustedBrowserTtlMs);
    if (outcome.reason === 'over') return backToLogin(req, reply, '2fa.over');
    const code = outcome.reason === 'code-expired' ? 'code-expired' : 'code-wrong';
    return showCode(req, reply, open, { values, errors: [{ field: 'code', code, vars: { left: outcome.left } }] }, 400);
  });
}
