import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { confirmTotp, removeTotp, totpState, TOTP_CODE_FIELD } from '../../flows/authenticator.ts';
import type { FieldError } from '../../flows/common.ts';
import { REAUTH_FIELD } from '../../flows/reauthenticate.ts';
import { generateRecoveryCodes, RECOVERY_CODE_COUNT, recoveryCodesLeft, removeRecoveryCodes } from '../../flows/recovery-codes.ts';
import { field } from '../form.ts';
import { renderPage, wordErrors } from '../render.ts';
import { clearSessionCookie, homeFor } from '../session-cookie.ts';
import { formatDate } from '../user-agent.ts';

/** The QR code of an otpauth:// URI, as an SVG image in a data: URL (the CSP allows img-src data:). */
async function qrDataUrl(uri: string): Promise<string> {
  const svg = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}

/** « ABCD EFGH … »: the secret in groups of 4, for typing it into an app by hand. */
function groupsOf4(secret: string): string {
  return secret.match(/.{1,4}/g)?.join(' ') ?? secret;
}

/**
 * « Mon compte → Sécurité du compte »: the authenticator app (QR code, confirmation by a first code,
 * removal) and the recovery codes (shown once, regenerated, deleted). Every change asks for the
 * current password.
 */
export async function accountSecondFactorRoutes(app: FastifyInstance) {
  const { ctx } = app;

  const requireFull = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (req.auth?.session.scope === 'full') return true;
    void reply.redirect(req.auth ? homeFor(req) : '/connexion', 303);
    return false;
  };

  /** The last wrong password locked the account: its sessions have ended, this one included. */
  const locked = (req: FastifyRequest, reply: FastifyReply) => {
    clearSessionCookie(reply);
    req.auth = null;
    return renderPage(req, reply, 'login', { title: req.t('login.title'), failed: req.t('account.locked') }, 403);
  };

  const showTotp = async (req: FastifyRequest, reply: FastifyReply, errors: FieldError[] = [], status = 200) => {
    const { user } = req.auth!;
    const state = await totpState(ctx, user);
    const common = { title: req.t('totp.title'), errors: wordErrors(req, errors), passwordField: REAUTH_FIELD, codeField: TOTP_CODE_FIELD };
    if (state.state === 'confirmed') {
      return renderPage(req, reply, 'account-totp', { ...common, confirmed: true, since: formatDate(state.confirmedAt, req.lang) }, status);
    }
    return renderPage(req, reply, 'account-totp', {
      ...common,
      confirmed: false,
      qr: await qrDataUrl(state.uri),
      uri: state.uri,
      secret: groupsOf4(state.secret),
    }, status);
  };

  const showRecovery = async (req: FastifyRequest, reply: FastifyReply, extra: { codes?: string[]; errors?: FieldError[] } = {}, status = 200) => {
    const left = await recoveryCodesLeft(ctx, req.auth!.user.id);
    return renderPage(req, reply, 'account-recovery-codes', {
      title: req.t('recovery.title'),
      left,
      total: RECOVERY_CODE_COUNT,
      codes: extra.codes ?? [],
      passwordField: REAUTH_FIELD,
      errors: wordErrors(req, extra.errors ?? []),
    }, status);
  };

  app.get('/compte/authentificateur', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    return showTotp(req, reply);
  });

  app.post('/compte/authentificateur', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const result = await confirmTotp(ctx, req.auth!.user, {
      password: field(req.body, REAUTH_FIELD),
      code: field(req.body, TOTP_CODE_FIELD, 64),
    }, req.origin);
    if (result.ok) return reply.redirect('/compte?ok=authentificateur-ajoute#securite', 303);
    if (result.locked) return locked(req, reply);
    return showTotp(req, reply, result.errors, 400);
  });

  app.post('/compte/authentificateur/supprimer', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const result = await removeTotp(ctx, req.auth!.user, field(req.body, REAUTH_FIELD), req.origin);
    if (result.ok) return reply.redirect(result.removed ? '/compte?ok=authentificateur-retire#securite' : '/compte#securite', 303);
    if (result.locked) return locked(req, reply);
    return showTotp(req, reply, result.errors, 400);
  });

  app.get('/compte/codes-de-secours', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    return showRecovery(req, reply);
  });

  /** One form, one password field, two buttons: « Générer des codes de secours », « Supprimer … ». */
  app.post('/compte/codes-de-secours', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const { user } = req.auth!;
    const password = field(req.body, REAUTH_FIELD);
    if (field(req.body, 'action', 20) === 'supprimer') {
      const result = await removeRecoveryCodes(ctx, user, password, req.origin);
      if (result.ok) return reply.redirect(result.removed ? '/compte?ok=codes-de-secours-supprimes#securite' : '/compte#securite', 303);
      if (result.locked) return locked(req, reply);
      return showRecovery(req, reply, { errors: result.errors }, 400);
    }
    const result = await generateRecoveryCodes(ctx, user, password, req.origin);
    if (result.ok) return showRecovery(req, reply, { codes: result.codes });
    if (result.locked) return locked(req, reply);
    return showRecovery(req, reply, { errors: result.errors }, 400);
  });
}
