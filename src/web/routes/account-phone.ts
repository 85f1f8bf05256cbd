import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { maskPhone } from '../../domain/masking.ts';
import { cleanOtpInput } from '../../domain/otp.ts';
import {
  confirmPhone, CURRENT_FIELD, pendingPhone, PHONE_FIELD, phoneCodeDeliveryFailing, removePhone, requestPhoneChange, resendPhoneCode,
  type SendRefusal,
} from '../../flows/backup-phone.ts';
import type { FieldError } from '../../flows/common.ts';
import { field } from '../form.ts';
import type { MessageKey } from '../i18n.ts';
import { renderPage, wordErrors } from '../render.ts';
import { clearSessionCookie, clearTrustCookie, homeFor } from '../session-cookie.ts';

/** The labels of this feature's fields, for error messages that name them. */
const LABELS: Record<string, MessageKey> = {
  [PHONE_FIELD]: 'backupPhone.label',
  [CURRENT_FIELD]: 'backupPhone.password',
  code: '2fa.code',
};

/**
 * « Mon compte → pictogramme stylo »: the record's edit form, whose « Téléphone de secours » takes a
 * mobile number (« Mettre à jour »), then the page where the code received by SMS confirms it.
 */
export async function accountPhoneRoutes(app: FastifyInstance) {
  const { ctx } = app;

  const requireFull = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (req.auth?.session.scope === 'full') return true;
    void reply.redirect(req.auth ? homeFor(req) : '/connexion', 303);
    return false;
  };

  const words = (req: FastifyRequest, errors: FieldError[]) =>
    wordErrors(req, errors.map((e) => (LABELS[e.field] ? { ...e, vars: { label: req.t(LABELS[e.field]!), ...e.vars } } : e)));

  const refusalNotice = (req: FastifyRequest, refusal: SendRefusal) => refusal.reason === 'cooldown'
    ? req.t('2fa.cooldown', { seconds: Math.ceil(refusal.waitMs / 1000) })
    : req.t('backupPhone.cap');

  const showProfile = async (
    req: FastifyRequest,
    reply: FastifyReply,
    extra: { errors?: FieldError[]; notice?: string; warning?: string; phone?: string } = {},
    status = 200,
  ) => {
    const { user } = req.auth!;
    const pending = await pendingPhone(ctx, user.id);
    const verified = user.backup_phone && user.backup_phone_verified_at ? user.backup_phone : null;
    return renderPage(req, reply, 'account-profile', {
      title: req.t('accountProfile.title'),
      phone: verified ? maskPhone(verified) : null,
      pending: pending && pending.expires_at > ctx.clock.now() ? maskPhone(pending.phone) : null,
      canRemove: Boolean(verified || pending),
      notice: extra.notice,
      warning: extra.warning,
      values: { [PHONE_FIELD]: extra.phone ?? '' },
      errors: words(req, extra.errors ?? []),
    }, status);
  };

  const showConfirm = async (
    req: FastifyRequest,
    reply: FastifyReply,
    pending: { phone: string; created_at: Date },
    extra: { errors?: FieldError[]; notice?: string } = {},
    status = 200,
  ) => renderPage(req, reply, 'account-phone-confirm', {
    title: req.t('backupPhone.confirm.title'),
    destination: req.t('backupPhone.confirm.sent', { phone: maskPhone(pending.phone) }),
    warning: await phoneCodeDeliveryFailing(ctx, pending) ? req.t('backupPhone.confirm.failing') : undefined,
    notice: extra.notice,
    errors: words(req, extra.errors ?? []),
  }, status);

  const locked = (req: FastifyRequest, reply: FastifyReply) => {
    clearSessionCookie(reply);
    req.auth = null;
    return renderPage(req, reply, 'login', { title: req.t('login.title'), failed: req.t('account.locked') }, 403);
  };

  app.get('/compte/fiche', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    return showProfile(req, reply);
  });

  app.post('/compte/fiche', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const phone = field(req.body, PHONE_FIELD, 64);
    const result = await requestPhoneChange(ctx, req.auth!.user, { phone, current: field(req.body, CURRENT_FIELD) }, req.origin);
    if (result.ok) {
      if (result.status === 'removed') {
        clearTrustCookie(reply);
        return reply.redirect('/compte?ok=telephone-supprime#securite', 303);
      }
      if (result.status === 'unchanged') return reply.redirect('/compte?ok=telephone-inchange#securite', 303);
      return reply.redirect('/compte/telephone/confirmation', 303);
    }
    if ('locked' in result) return locked(req, reply);
    if ('refused' in result) return showProfile(req, reply, { warning: refusalNotice(req, result.refused), phone }, 429);
    return showProfile(req, reply, { errors: result.errors, phone: phone.slice(0, 32) }, 400);
  });

  app.post('/compte/telephone/supprimer', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const result = await removePhone(ctx, req.auth!.user, field(req.body, CURRENT_FIELD), req.origin);
    if (result.ok) {
      clearTrustCookie(reply);
      return reply.redirect('/compte?ok=telephone-supprime#securite', 303);
    }
    if ('locked' in result) return locked(req, reply);
    return showProfile(req, reply, { errors: result.errors }, 400);
  });

  app.get('/compte/telephone/confirmation', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const pending = await pendingPhone(ctx, req.auth!.user.id);
    if (!pending) return reply.redirect('/compte/fiche', 303);
    return showConfirm(req, reply, pending);
  });

  app.post('/compte/telephone/confirmation', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const { user } = req.auth!;
    const pending = await pendingPhone(ctx, user.id);
    if (!pending) return reply.redirect('/compte/fiche', 303);
    if (field(req.body, 'renvoyer', 16)) {
      const sent = await resendPhoneCode(ctx, user, req.origin);
      if (!sent.ok && sent.reason === 'no-pending') return reply.redirect('/compte/fiche', 303);
      const reloaded = (await pendingPhone(ctx, user.id)) ?? pending;
      if (sent.ok) return showConfirm(req, reply, reloaded, { notice: req.t('2fa.resent') });
      return showConfirm(req, reply, reloaded, { notice: refusalNotice(req, sent as SendRefusal) }, 429);
    }
    const raw = field(req.body, 'code', 64);
    const code = cleanOtpInput(raw);
    if (!code) return showConfirm(req, reply, pending, { errors: [{ field: 'code', code: raw ? 'code-format' : 'required' }] }, 400);
    const outcome = await confirmPhone(ctx, user, code, req.origin);
    if (outcome.ok) {
      clearTrustCookie(reply);
      return reply.redirect('/compte?ok=telephone#securite', 303);
    }
    if (!('left' in outcome)) {
      if (outcome.reason === 'over') return showProfile(req, reply, { warning: req.t('backupPhone.confirm.over') }, 400);
      return reply.redirect('/compte/fiche', 303);
    }
    return showConfirm(req, reply, pending, {
      errors: [{ field: 'code', code: outcome.reason === 'code-expired' ? 'code-expired' : 'code-wrong', vars: { left: outcome.left } }],
    }, 400);
  });
}
