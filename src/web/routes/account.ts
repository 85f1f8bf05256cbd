import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { changePassword } from '../../flows/change-password.ts';
import type { FieldError } from '../../flows/common.ts';
import { securityOverview } from '../../flows/account-security.ts';
import { pendingInvitationsFor } from '../../flows/invitations.ts';
import { revokeTrustedBrowsers } from '../../flows/second-factor.ts';
import { endOwnSession } from '../../flows/sessions.ts';
import { recentEvents } from '../../store/audit.ts';
import { listSessions } from '../../store/sessions.ts';
import { checked, field } from '../form.ts';
import { isMessageKey } from '../i18n.ts';
import { renderPage, wordErrors } from '../render.ts';
import { clearSessionCookie, clearTrustCookie, homeFor, setSessionCookie } from '../session-cookie.ts';
import { describeDevice, formatDate } from '../user-agent.ts';

/** « Mon compte »: the record, « Changer mon mot de passe », active sessions, recent activity. */
export async function accountRoutes(app: FastifyInstance) {
  const { ctx } = app;
  const limits = { idleMs: ctx.config.sessionIdleTtlMs, maxMs: ctx.config.sessionMaxTtlMs };

  const requireFull = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (req.auth?.session.scope === 'full') return true;
    void reply.redirect(req.auth ? homeFor(req) : '/connexion', 303);
    return false;
  };

  const showAccount = async (req: FastifyRequest, reply: FastifyReply, extra: { notices?: string[]; errors?: FieldError[] }, status = 200) => {
    const { user, session } = req.auth!;
    const now = ctx.clock.now();
    const sessions = (await listSessions(ctx.db, user.id, now, limits)).map((s) => ({
      id: s.id,
      current: s.id === session.id,
      device: describeDevice(s.user_agent, req.lang),
      ip: s.ip,
      started: formatDate(s.created_at, req.lang),
      last: formatDate(s.last_seen_at, req.lang),
    }));
    const activity = (await recentEvents(ctx.db, user.id, 20)).map((e) => {
      const key = `audit.${e.type}`;
      return {
        at: formatDate(e.at, req.lang),
        what: isMessageKey(key) ? req.t(key) : e.type,
        ip: e.ip ?? '',
        device: describeDevice(e.user_agent ?? '', req.lang),
      };
    });
    const security = await securityOverview(ctx, user);
    const invitations = (await pendingInvitationsFor(ctx, user.id)).map((i) => ({ id: i.id, establishment: i.establishment_name, rights: i.rights.map((r) => { const key = `admin.right.${r}`; return isMessageKey(key) ? req.t(key) : r; }).join(', ') }));
    return renderPage(req, reply, 'account', {
      title: req.t('account.title'),
      sessions,
      activity,
      invitations,
      security,
      trusted: security.trustedBrowsers.map((b) => ({
        id: b.id,
        device: describeDevice(b.user_agent, req.lang),
        since: formatDate(b.created_at, req.lang),
        until: formatDate(b.expires_at, req.lang),
      })),
      notices: extra.notices ?? [],
      errors: wordErrors(req, extra.errors ?? []),
    }, status);
  };

  app.get('/compte', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const query = req.query as Record<string, string | undefined>;
    const notices: string[] = [];
    if (query.ok === 'mot-de-passe') notices.push(req.t('account.changed'));
    const others = Number(query.autres);
    if (query.ok === 'mot-de-passe' && Number.isInteger(others) && others > 0) notices.push(req.t('account.changed.others', { count: others }));
    if (query.ok === 'session-fin') notices.push(req.t('account.session.ended'));
    if (query.ok === 'confiance-revoquee') notices.push(req.t('account.trusted.revoked'));
    if (query.ok === 'cle-ajoutee') notices.push(req.t('passkey.added'));
    if (query.ok === 'cle-supprimee') notices.push(req.t('passkey.removed'));
    if (query.ok === 'authentificateur-ajoute') notices.push(req.t('account.totp.added'));
    if (query.ok === 'authentificateur-retire') notices.push(req.t('account.totp.removed'));
    if (query.ok === 'codes-de-secours-supprimes') notices.push(req.t('account.recovery.removed'));
    if (query.ok === 'telephone') notices.push(req.t('backupPhone.confirmed'));
    if (query.ok === 'telephone-supprime') notices.push(req.t('backupPhone.removed'));
    if (query.ok === 'telephone-inchange') notices.push(req.t('backupPhone.unchanged'));
    if (query.ok === 'invitation-acceptee') notices.push(req.t('account.invitation.accepted'));
    return showAccount(req, reply, { notices });
  });

  app.post('/compte/mot-de-passe', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const { user, session } = req.auth!;
    const result = await changePassword(ctx, user, session, {
      current: field(req.body, 'ancien_mot_de_passe'),
      password: field(req.body, 'nouveau_mot_de_passe'),
      confirmation: field(req.body, 'confirmation'),
      endOthers: checked(req.body, 'deconnecter_autres'),
    }, req.origin);
    if (result.ok) {
      setSessionCookie(reply, result.token);
      return reply.redirect(`/compte?ok=mot-de-passe${result.endedOthers ? `&autres=${result.endedOthers}` : ''}`, 303);
    }
    if ('locked' in result) {
      clearSessionCookie(reply);
      req.auth = null;
      return renderPage(req, reply, 'login', { title: req.t('login.title'), failed: req.t('account.locked') }, 403);
    }
    return showAccount(req, reply, { errors: result.errors }, 400);
  });

  app.post('/compte/navigateurs-de-confiance/revoquer', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const now = ctx.clock.now();
    await ctx.db.transaction().execute((trx) => revokeTrustedBrowsers(trx, req.auth!.user.id, req.origin, now, 'revoked-from-account'));
    clearTrustCookie(reply);
    return reply.redirect('/compte?ok=confiance-revoquee#securite', 303);
  });

  app.post<{ Params: { id: string } }>('/compte/sessions/:id/fin', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const ended = await endOwnSession(ctx, req.auth!.user.id, req.params.id, req.origin);
    // « La session a pris fin » only when one did: another person's session id ends nothing.
    return reply.redirect(ended ? '/compte?ok=session-fin' : '/compte', 303);
  });
}
