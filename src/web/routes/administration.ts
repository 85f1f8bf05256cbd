import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  administeredEstablishments, changeRights, listPeople, managedUser, MANY_ESTABLISHMENTS, pendingInvitations, removeUser,
} from '../../flows/administration.ts';
import type { FieldError } from '../../flows/common.ts';
import { RIGHTS } from '../../flows/establishments.ts';
import {
  acceptAsExisting, acceptAsNewPerson, cancelInvitation, checkInvitee, findInvitationByToken, resendInvitation, sendInvitation,
  type InvitationInput,
} from '../../flows/invitations.ts';
import { field } from '../form.ts';
import type { MessageKey } from '../i18n.ts';
import { renderMessage, renderPage, wordErrors } from '../render.ts';
import { homeFor, setSessionCookie } from '../session-cookie.ts';
import { formatDate } from '../user-agent.ts';

/** Every value of a repeated form field (checkboxes), whatever was posted. */
function values(body: unknown, name: string): string[] {
  if (!body || typeof body !== 'object') return [];
  const value = (body as Record<string, unknown>)[name];
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is string => typeof v === 'string' && v.length <= 32);
}

const RIGHT_LABELS: Record<string, MessageKey> = { 'admin': 'admin.right.admin', 'patient-data': 'admin.right.patient-data', 'member': 'admin.right.member' };

/** « Compte → Ajouter et gérer des utilisateurs » (seed 002), and the invitation links it sends. */
export async function administrationRoutes(app: FastifyInstance) {
  const { ctx } = app;

  /** Signed out → sign in; signed in without the admin right → the ordinary not-found page. */
  const requireAdmin = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (req.auth?.session.scope !== 'full') {
      void reply.redirect(req.auth ? homeFor(req) : '/connexion', 303);
      return false;
    }
    if (!req.roles.includes('admin')) {
      void reply.callNotFound();
      return false;
    }
    return true;
  };

  const notFound = (reply: FastifyReply) => reply.callNotFound();

  const rightsView = (req: FastifyRequest, selected: string[]) =>
    RIGHTS.map((r) => ({ value: r, label: req.t(RIGHT_LABELS[r]!), checked: selected.includes(r) }));

  /** The establishment asked for, if this admin runs it; the first one when none was asked for. */
  const pickEstablishment = async (req: FastifyRequest, wanted: string) => {
    const establishments = await administeredEstablishments(ctx.db, req.auth!.user.id);
    const current = wanted ? establishments.find((e) => e.id === wanted) : establishments[0];
    return { establishments, current };
  };

  app.get('/compte/utilisateurs', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const query = req.query as Record<string, unknown>;
    const { establishments, current } = await pickEstablishment(req, field(query, 'etablissement', 64));
    if (!current) return notFound(reply);
    const page = Number.parseInt(field(query, 'page', 8), 10);
    const list = await listPeople(ctx.db, current.id, { query: field(query, 'q', 200), page: Number.isFinite(page) ? page : 1 });
    const invitations = (await pendingInvitations(ctx, current.id)).map((i) => ({
      id: i.id, name: i.name, email: i.email,
      rights: i.rights.map((r) => req.t(RIGHT_LABELS[r] ?? 'admin.right.member')).join(', '),
      sent: formatDate(i.sent_at, req.lang),
      expired: i.expires_at.getTime() <= ctx.clock.now().getTime(),
    }));
    const notices: string[] = [];
    const ok = field(query, 'ok', 32);
    if (ok === 'invitation') notices.push(req.t('admin.notice.sent'));
    if (ok === 'renvoyee') notices.push(req.t('admin.notice.resent'));
    if (ok === 'annulee') notices.push(req.t('admin.notice.cancelled'));
    if (ok === 'supprime') notices.push(req.t('admin.notice.removed'));
    if (ok === 'droits') notices.push(req.t('admin.notice.rights'));
    const link = (p: number) => `/compte/utilisateurs?etablissement=${current.id}${list.query ? `&q=${encodeURIComponent(list.query)}` : ''}&page=${p}`;
    return renderPage(req, reply, 'admin-users', {
      title: req.t('admin.title'),
      establishments, current, notices, invitations,
      query: list.query,
      total: list.total,
      page: list.page,
      pages: list.pages,
      previous: list.page > 1 ? link(list.page - 1) : null,
      next: list.page < list.pages ? link(list.page + 1) : null,
      people: list.people.map((p) => ({
        ...p,
        rightsText: p.rights.map((r) => req.t(RIGHT_LABELS[r]!)).join(', '),
        statusText: req.t(p.status === 'locked' ? 'admin.status.locked' : p.status === 'disabled' ? 'admin.status.disabled' : 'admin.status.active'),
      })),
    });
  });

  // « Ajouter un utilisateur »: « Nouvel utilisateur » or « Utilisateur existant ».
  app.get('/compte/utilisateurs/ajouter', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const { current } = await pickEstablishment(req, field(req.query, 'etablissement', 64));
    if (!current) return notFound(reply);
    return renderPage(req, reply, 'admin-add', { title: req.t('admin.add'), current });
  });

  const showStep1 = (req: FastifyRequest, reply: FastifyReply, current: { id: string; name: string }, kind: 'new' | 'existing', input: Partial<InvitationInput>, errors: FieldError[] = [], status = 200) =>
    renderPage(req, reply, 'admin-invite', {
      title: req.t(kind === 'new' ? 'admin.new' : 'admin.existing'),
      current, kind,
      values: { nom: input.name ?? '', email: input.email ?? '', identifiant: input.login ?? '' },
      errors: wordErrors(req, errors),
    }, status);

  app.get('/compte/utilisateurs/ajouter/nouveau', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const { current } = await pickEstablishment(req, field(req.query, 'etablissement', 64));
    if (!current) return notFound(reply);
    return showStep1(req, reply, current, 'new', {});
  });

  app.get('/compte/utilisateurs/ajouter/existant', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const { current } = await pickEstablishment(req, field(req.query, 'etablissement', 64));
    if (!current) return notFound(reply);
    return showStep1(req, reply, current, 'existing', {});
  });

  const readInvite = (body: unknown): InvitationInput => ({
    kind: field(body, 'type', 16) === 'existant' ? 'existing' : 'new',
    name: field(body, 'nom', 400),
    email: field(body, 'email', 400),
    login: field(body, 'identifiant', 200),
    rights: values(body, 'droits'),
  });

  const showRightsStep = (req: FastifyRequest, reply: FastifyReply, current: { id: string; name: string }, input: InvitationInput, shown: { name: string; email: string; login: string; existing: boolean }, errors: FieldError[] = [], status = 200) =>
    renderPage(req, reply, 'admin-invite-rights', {
      title: req.t('admin.rights.title'),
      current, input, shown,
      type: input.kind === 'existing' ? 'existant' : 'nouveau',
      rights: rightsView(req, input.rights),
      errors: wordErrors(req, errors),
    }, status);

  // Step 2: « Étape suivante : configuration des droits d'accès » / « Voir les droits d'accès ».
  app.post('/compte/utilisateurs/ajouter/droits', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const { current } = await pickEstablishment(req, field(req.body, 'etablissement', 64));
    if (!current) return notFound(reply);
    const input = readInvite(req.body);
    const checked = await checkInvitee(ctx.db, input);
    if (!checked.ok) return showStep1(req, reply, current, input.kind, input, checked.errors, 400);
    return showRightsStep(req, reply, current, input, { name: checked.name, email: checked.email, login: checked.login, existing: Boolean(checked.userId) });
  });

  app.post('/compte/utilisateurs/ajouter/envoyer', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const { current } = await pickEstablishment(req, field(req.body, 'etablissement', 64));
    if (!current) return notFound(reply);
    const input = readInvite(req.body);
    const result = await sendInvitation(ctx, req.auth!.user.id, current.id, input, req.origin);
    if (result.ok) return reply.redirect(`/compte/utilisateurs?etablissement=${current.id}&ok=invitation`, 303);
    if (result.errors.some((e) => e.field === 'droits')) {
      const checked = await checkInvitee(ctx.db, input);
      if (checked.ok) return showRightsStep(req, reply, current, input, { name: checked.name, email: checked.email, login: checked.login, existing: Boolean(checked.userId) }, result.errors, 400);
    }
    return showStep1(req, reply, current, input.kind, input, result.errors, 400);
  });

  app.post<{ Params: { id: string } }>('/compte/utilisateurs/invitations/:id/renvoyer', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const establishment = await invitationEstablishment(req.params.id);
    if (!(await resendInvitation(ctx, req.auth!.user.id, req.params.id, req.origin))) return notFound(reply);
    return reply.redirect(`/compte/utilisateurs?etablissement=${establishment}&ok=renvoyee`, 303);
  });

  app.post<{ Params: { id: string } }>('/compte/utilisateurs/invitations/:id/annuler', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const establishment = await invitationEstablishment(req.params.id);
    if (!(await cancelInvitation(ctx, req.auth!.user.id, req.params.id, req.origin))) return notFound(reply);
    return reply.redirect(`/compte/utilisateurs?etablissement=${establishment}&ok=annulee`, 303);
  });

  async function invitationEstablishment(id: string): Promise<string> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return '';
    const row = await ctx.db.selectFrom('invitations').select('establishment_id').where('id', '=', id).executeTakeFirst();
    return row?.establishment_id ?? '';
  }

  // « Gérer »: rights, deletion, and why the sign-in address cannot change.
  const showManage = async (req: FastifyRequest, reply: FastifyReply, establishmentId: string, userId: string, errors: FieldError[] = [], status = 200, selected?: string[]) => {
    const target = await managedUser(ctx.db, req.auth!.user.id, establishmentId, userId);
    if (!target) return notFound(reply);
    return renderPage(req, reply, 'admin-manage', {
      title: req.t('admin.manage.title', { name: target.display_name }),
      target,
      self: target.id === req.auth!.user.id,
      rights: rightsView(req, selected ?? target.rights),
      emailRule: req.t(target.establishmentCount >= MANY_ESTABLISHMENTS ? 'admin.email.many' : 'admin.email.rule', { count: MANY_ESTABLISHMENTS }),
      errors: wordErrors(req, errors),
    }, status);
  };

  app.get<{ Params: { establishment: string; user: string } }>('/compte/utilisateurs/:establishment/:user', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    return showManage(req, reply, req.params.establishment, req.params.user);
  });

  app.post<{ Params: { establishment: string; user: string } }>('/compte/utilisateurs/:establishment/:user/droits', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const { establishment, user } = req.params;
    const wanted = values(req.body, 'droits');
    const result = await changeRights(ctx, req.auth!.user.id, establishment, user, wanted, req.origin);
    if (result.ok) return reply.redirect(`/compte/utilisateurs?etablissement=${establishment}&ok=droits`, 303);
    if ('notFound' in result) return notFound(reply);
    return showManage(req, reply, establishment, user, result.errors, 400, wanted);
  });

  app.get<{ Params: { establishment: string; user: string } }>('/compte/utilisateurs/:establishment/:user/supprimer', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const target = await managedUser(ctx.db, req.auth!.user.id, req.params.establishment, req.params.user);
    if (!target) return notFound(reply);
    return renderPage(req, reply, 'admin-delete', { title: req.t('admin.delete.title'), target, self: target.id === req.auth!.user.id });
  });

  app.post<{ Params: { establishment: string; user: string } }>('/compte/utilisateurs/:establishment/:user/supprimer', async (req, reply) => {
    if (!requireAdmin(req, reply)) return reply;
    const { establishment, user } = req.params;
    const outcome = await removeUser(ctx, req.auth!.user.id, establishment, user, req.origin);
    if (outcome === 'not-found') return notFound(reply);
    if (outcome === 'self') {
      const target = await managedUser(ctx.db, req.auth!.user.id, establishment, user);
      if (!target) return notFound(reply);
      return renderPage(req, reply, 'admin-delete', { title: req.t('admin.delete.title'), target, self: true }, 400);
    }
    return reply.redirect(`/compte/utilisateurs?etablissement=${establishment}&ok=supprime`, 303);
  });

  // The link in the invitation mail. Never sent as a referrer: the token is in the path.
  const gone = (req: FastifyRequest, reply: FastifyReply) =>
    renderMessage(req, reply, { title: req.t('invitation.gone.title'), paragraphs: [req.t('invitation.gone')], kind: 'error', links: [{ href: '/', label: req.t('page.home') }] }, 410);

  const showInvitation = async (req: FastifyRequest, reply: FastifyReply, token: string, input: { login?: string } = {}, errors: FieldError[] = [], status = 200) => {
    const inv = await findInvitationByToken(ctx, token);
    if (!inv) return gone(req, reply);
    const signedInAs = req.auth?.session.scope === 'full' ? req.auth.user : undefined;
    const mode = inv.user_id ? (signedInAs?.id === inv.user_id ? 'accept' : signedInAs ? 'other-account' : 'sign-in') : 'new';
    return renderPage(req, reply, 'invitation-accept', {
      title: req.t('invitation.title'),
      token, mode,
      invitation: { name: inv.name, email: inv.email, establishment: inv.establishment_name, rights: inv.rights.map((r) => req.t(RIGHT_LABELS[r] ?? 'admin.right.member')).join(', ') },
      values: { identifiant: input.login ?? inv.email.split('@')[0]!.toLowerCase().replace(/[^a-z0-9._-]/g, '') },
      errors: wordErrors(req, errors),
    }, status);
  };

  app.get<{ Params: { token: string } }>('/invitation/:token', async (req, reply) => {
    reply.header('Referrer-Policy', 'no-referrer');
    return showInvitation(req, reply, req.params.token);
  });

  app.post<{ Params: { token: string } }>('/invitation/:token', async (req, reply) => {
    reply.header('Referrer-Policy', 'no-referrer');
    const { token } = req.params;
    const inv = await findInvitationByToken(ctx, token);
    if (!inv) return gone(req, reply);
    if (inv.user_id) {
      if (req.auth?.session.scope !== 'full' || req.auth.user.id !== inv.user_id) return showInvitation(req, reply, token, {}, [], 403);
      const accepted = await acceptAsExisting(ctx, req.auth.user.id, { token }, req.origin);
      if (!accepted) return gone(req, reply);
      return renderMessage(req, reply, { title: req.t('invitation.accepted.title'), paragraphs: [req.t('invitation.accepted', { establishment: accepted.establishmentName })], links: [{ href: '/compte', label: req.t('nav.account') }] });
    }
    const login = field(req.body, 'identifiant', 200);
    const result = await acceptAsNewPerson(ctx, token, {
      login,
      password: field(req.body, 'nouveau_mot_de_passe'),
      confirmation: field(req.body, 'confirmation'),
    }, req.origin);
    if (result.ok) {
      setSessionCookie(reply, result.sessionToken);
      return reply.redirect('/invitation-acceptee', 303);
    }
    if ('gone' in result) return gone(req, reply);
    return showInvitation(req, reply, token, { login }, result.errors, 400);
  });

  app.get('/invitation-acceptee', async (req, reply) => {
    if (req.auth?.session.scope !== 'full') return reply.redirect('/connexion', 303);
    return renderMessage(req, reply, {
      title: req.t('invitation.accepted.title'),
      paragraphs: [req.t('invitation.welcome', { login: req.auth.user.login })],
      links: [{ href: '/compte', label: req.t('nav.account') }],
    });
  });

  // « Mon compte » → « Accepter ».
  app.post<{ Params: { id: string } }>('/compte/invitations/:id/accepter', async (req, reply) => {
    if (req.auth?.session.scope !== 'full') return reply.redirect(req.auth ? homeFor(req) : '/connexion', 303);
    const accepted = await acceptAsExisting(ctx, req.auth.user.id, { id: req.params.id }, req.origin);
    if (!accepted) return notFound(reply);
    return reply.redirect('/compte?ok=invitation-acceptee', 303);
  });
}
