import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Context } from '../context.ts';
import { addMs } from '../domain/clock.ts';
import { describeDuration } from '../domain/durations.ts';
import { isValidEmail, isValidLogin, normaliseEmail, normaliseLogin } from '../domain/identifiers.ts';
import { normalisePassword } from '../domain/password-policy.ts';
import { hashToken, isTokenShaped, newToken } from '../domain/tokens.ts';
import type { Branding, MailContent } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { Database, RightName } from '../store/schema.ts';
import { createSession } from '../store/sessions.ts';
import { storePassword } from '../store/users.ts';
import { isAdminOf } from './authorization.ts';
import { inTransaction, queueMail, type FieldError, type Outcome } from './common.ts';
import { grantRights, isRight, RIGHTS } from './establishments.ts';
import { tooLong, validateNewPassword, NEW_PASSWORD_FIELD } from './new-password.ts';

/** Form field names, shared with the web layer (errors are tied to them). */
export const INVITE_FIELDS = { name: 'nom', email: 'email', login: 'identifiant', rights: 'droits' } as const;

export function invitationMail(b: Branding, name: string, establishment: string, url: string, ttlMs: number, existing: boolean): MailContent {
  return {
    subject: `${b.portalName} : invitation à rejoindre ${establishment}`,
    greeting: `Bonjour ${name},`,
    paragraphs: [
      `L'administrateur du compte ${establishment} vous invite à accéder à cet établissement sur ${b.portalName}.`,
      existing
        ? "Pour accepter l'invitation, connectez-vous avec votre identifiant habituel puis cliquez sur le lien suivant (ou acceptez-la depuis « Mon compte ») :"
        : "Pour accepter l'invitation, cliquez sur le lien suivant : vous choisirez votre identifiant et votre mot de passe.",
    ],
    action: { label: "Accepter l'invitation", url },
    after: [
      `Ce lien n'est valable que ${describeDuration(ttlMs)} et une seule fois.`,
      "Si vous n'attendiez pas cette invitation, ignorez ce message.",
    ],
  };
}

/** Keeps the known rights, in their canonical order; the caller refuses an empty set. */
export function pickRights(values: string[]): RightName[] {
  return RIGHTS.filter((r) => values.some((v) => isRight(v) && v === r));
}

export interface InvitationInput {
  kind: 'new' | 'existing';
  name: string;
  email: string;
  login: string;
  rights: string[];
}

/** Step 1 of « Ajouter un utilisateur »: checks what was typed before the rights step. */
export async function checkInvitee(db: Kysely<Database>, input: InvitationInput): Promise<Outcome<{ name: string; email: string; login: string; userId: string | null }>> {
  const email = normaliseEmail(input.email);
  const errors: FieldError[] = [];
  if (input.kind === 'existing') {
    const login = normaliseLogin(input.login);
    if (!login) errors.push({ field: INVITE_FIELDS.login, code: 'required' });
    if (!email) errors.push({ field: INVITE_FIELDS.email, code: 'required' });
    if (errors.length > 0) return { ok: false, errors };
    const user = await db.selectFrom('users').select(['id', 'display_name', 'login', 'email'])
      .where('login', '=', login).where('email', '=', email).executeTakeFirst();
    // One neutral answer whichever half is wrong: the form reveals nothing about other accounts.
    if (!user) return { ok: false, errors: [{ field: INVITE_FIELDS.login, code: 'no-such-account' }] };
    return { ok: true, name: user.display_name, email: user.email, login: user.login, userId: user.id };
  }
  const name = input.name.normalize('NFKC').trim();
  if (!name) errors.push({ field: INVITE_FIELDS.name, code: 'required' });
  else if (name.length > 200) errors.push({ field: INVITE_FIELDS.name, code: 'max-length', vars: { max: 200 } });
  if (!email) errors.push({ field: INVITE_FIELDS.email, code: 'required' });
  else if (!isValidEmail(email)) errors.push({ field: INVITE_FIELDS.email, code: 'invalid-email' });
  if (errors.length > 0) return { ok: false, errors };
  // An address that already has an account: the invitation is tied to that account (« Utilisateur existant »).
  const user = await db.selectFrom('users').select(['id', 'login']).where('email', '=', email).executeTakeFirst();
  return { ok: true, name, email, login: user?.login ?? '', userId: user?.id ?? null };
}

/** « Envoyer l'invitation »: one row, one mail, one audit row, in one transaction. */
export async function sendInvitation(
  ctx: Context,
  /** The administrator sending it, checked here; null when the caller already checked its scope (API token). */
  adminId: string | null,
  establishmentId: string,
  input: InvitationInput,
  origin: Origin,
  auditDetails: Record<string, unknown> = {},
): Promise<Outcome<{ invitationId: string; existing: boolean }>> {
  const checked = await checkInvitee(ctx.db, input);
  if (!checked.ok) return checked;
  const rights = pickRights(input.rights);
  if (rights.length === 0) return { ok: false, errors: [{ field: INVITE_FIELDS.rights, code: 'rights-required' }] };
  const now = ctx.clock.now();
  const token = newToken();
  const id = randomUUID();
  return inTransaction(ctx, async (trx) => {
    const establishment = await trx.selectFrom('establishments').select('name').where('id', '=', establishmentId).executeTakeFirst();
    if (!establishment || (adminId !== null && !(await isAdminOf(trx, adminId, establishmentId)))) {
      return { ok: false as const, errors: [{ field: INVITE_FIELDS.email, code: 'not-allowed' }] };
    }
    if (checked.userId) {
      const member = await trx.selectFrom('user_rights').select('user_id')
        .where('user_id', '=', checked.userId).where('establishment_id', '=', establishmentId).executeTakeFirst();
      if (member) return { ok: false as const, errors: [{ field: input.kind === 'existing' ? INVITE_FIELDS.login : INVITE_FIELDS.email, code: 'already-member' }] };
    }
    // A new invitation to the same address for the same establishment replaces the pending one.
    await trx.updateTable('invitations').set({ cancelled_at: now })
      .where('establishment_id', '=', establishmentId).where('email', '=', checked.email)
      .where('accepted_at', 'is', null).where('cancelled_at', 'is', null).execute();
    await trx.insertInto('invitations').values({
      id, token_hash: hashToken(token), email: checked.email, name: checked.name, user_id: checked.userId,
      establishment_id: establishmentId, rights, invited_by: adminId, created_at: now,
      expires_at: addMs(now, ctx.config.invitationTtlMs), sent_at: now,
    }).execute();
    await audit(trx, now, {
      type: 'invitation.sent', userId: checked.userId, actorId: adminId, establishmentId, subject: checked.email, origin,
      details: { invitation: id, rights, existing: Boolean(checked.userId), ...auditDetails },
    });
    await queueMail(ctx, trx, checked.email, invitationMail(ctx.brand, checked.name, establishment.name, invitationUrl(ctx, token), ctx.config.invitationTtlMs, Boolean(checked.userId)), now);
    return { ok: true as const, invitationId: id, existing: Boolean(checked.userId) };
  });
}

function invitationUrl(ctx: Context, token: string): string {
  return new URL(`/invitation/${token}`, ctx.config.publicUrl).toString();
}

/** A pending invitation of an establishment the administrator runs, or undefined (as if it did not exist). */
async function pendingForAdmin(db: Kysely<Database>, adminId: string, invitationId: string) {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(invitationId)) return undefined;
  const inv = await db.selectFrom('invitations').innerJoin('establishments', 'establishments.id', 'invitations.establishment_id')
    .selectAll('invitations').select('establishments.name as establishment_name')
    .where('invitations.id', '=', invitationId).where('accepted_at', 'is', null).where('cancelled_at', 'is', null)
    .executeTakeFirst();
  if (!inv || !(await isAdminOf(db, adminId, inv.establishment_id))) return undefined;
  return inv;
}

/** « Renvoyer »: a new link (the previous one stops working) and a fresh validity. */
export async function resendInvitation(ctx: Context, adminId: string, invitationId: string, origin: Origin): Promise<boolean> {
  const now = ctx.clock.now();
  const token = newToken();
  return inTransaction(ctx, async (trx) => {
    const inv = await pendingForAdmin(trx, adminId, invitationId);
    if (!inv) return false;
    await trx.updateTable('invitations')
      .set({ token_hash: hashToken(token), sent_at: now, expires_at: addMs(now, ctx.config.invitationTtlMs) })
      .where('id', '=', inv.id).execute();
    await audit(trx, now, { type: 'invitation.resent', userId: inv.user_id, actorId: adminId, establishmentId: inv.establishment_id, subject: inv.email, origin, details: { invitation: inv.id } });
    await queueMail(ctx, trx, inv.email, invitationMail(ctx.brand, inv.name, inv.establishment_name, invitationUrl(ctx, token), ctx.config.invitationTtlMs, Boolean(inv.user_id)), now);
    return true;
  });
}

/** « Annuler »: the link stops working at once. */
export async function cancelInvitation(ctx: Context, adminId: string, invitationId: string, origin: Origin): Promise<boolean> {
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const inv = await pendingForAdmin(trx, adminId, invitationId);
    if (!inv) return false;
    await trx.updateTable('invitations').set({ cancelled_at: now }).where('id', '=', inv.id).execute();
    await audit(trx, now, { type: 'invitation.cancelled', userId: inv.user_id, actorId: adminId, establishmentId: inv.establishment_id, subject: inv.email, origin, details: { invitation: inv.id } });
    return true;
  });
}

/** The pending invitations of one establishment (the API's view; the pages have their own list). */
export async function pendingInvitationsOf(db: Kysely<Database>, establishmentId: string, now: Date) {
  const rows = await db.selectFrom('invitations')
    .select(['id', 'email', 'name', 'rights', 'user_id', 'created_at', 'expires_at'])
    .where('establishment_id', '=', establishmentId).where('accepted_at', 'is', null).where('cancelled_at', 'is', null)
    .orderBy('created_at', 'desc').execute();
  return rows.map((r) => ({
    id: r.id, email: r.email, name: r.name, rights: r.rights, existingUser: r.user_id !== null,
    createdAt: r.created_at.toISOString(), expiresAt: r.expires_at.toISOString(), expired: r.expires_at <= now,
  }));
}

/** Cancels a pending invitation of this establishment; false when there is none by that id there. */
export async function cancelEstablishmentInvitation(
  ctx: Context,
  establishmentId: string,
  invitationId: string,
  origin: Origin,
  auditDetails: Record<string, unknown> = {},
): Promise<boolean> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(invitationId)) return false;
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const inv = await trx.updateTable('invitations').set({ cancelled_at: now })
      .where('id', '=', invitationId).where('establishment_id', '=', establishmentId)
      .where('accepted_at', 'is', null).where('cancelled_at', 'is', null)
      .returning(['id', 'user_id', 'email']).executeTakeFirst();
    if (!inv) return false;
    await audit(trx, now, { type: 'invitation.cancelled', userId: inv.user_id, actorId: null, establishmentId, subject: inv.email, origin, details: { invitation: inv.id, ...auditDetails } });
    return true;
  });
}

export type FoundInvitation = Awaited<ReturnType<typeof findInvitationByToken>>;

/** The invitation a link points to, if it can still be accepted. */
export async function findInvitationByToken(ctx: Context, token: string) {
  if (!isTokenShaped(token)) return undefined;
  const inv = await ctx.db.selectFrom('invitations').innerJoin('establishments', 'establishments.id', 'invitations.establishment_id')
    .selectAll('invitations').select('establishments.name as establishment_name')
    .where('token_hash', '=', hashToken(token)).executeTakeFirst();
  if (!inv || inv.accepted_at || inv.cancelled_at || inv.expires_at.getTime() <= ctx.clock.now().getTime()) return undefined;
  return inv;
}

/** Marks the invitation used, only if it still is pending: two clicks cannot both succeed. */
async function claim(trx: Kysely<Database>, id: string, now: Date, userId: string): Promise<boolean> {
  const result = await trx.updateTable('invitations').set({ accepted_at: now, user_id: userId })
    .where('id', '=', id).where('accepted_at', 'is', null).where('cancelled_at', 'is', null).where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows ?? 0) === 1;
}

export const ACCEPT_FIELDS = { login: 'identifiant' } as const;

/** A new person accepts: chooses an identifier and a password; the account starts with the invited rights and a session. */
export async function acceptAsNewPerson(
  ctx: Context,
  token: string,
  input: { login: string; password: string; confirmation: string },
  origin: Origin,
): Promise<Outcome<{ sessionToken: string; userId: string }> | { ok: false; gone: true }> {
  const inv = await findInvitationByToken(ctx, token);
  if (!inv || inv.user_id) return { ok: false, gone: true };
  const login = normaliseLogin(input.login);
  const errors: FieldError[] = [];
  if (!login) errors.push({ field: ACCEPT_FIELDS.login, code: 'required' });
  else if (!isValidLogin(login)) errors.push({ field: ACCEPT_FIELDS.login, code: 'invalid-login' });
  else if (await ctx.db.selectFrom('users').select('id').where('login', '=', login).executeTakeFirst()) {
    errors.push({ field: ACCEPT_FIELDS.login, code: 'login-taken' });
  }
  if (tooLong(input.password)) errors.push({ field: NEW_PASSWORD_FIELD, code: 'max-length' });
  else {
    const userId = randomUUID();
    errors.push(...await validateNewPassword(ctx, {
      id: userId, login: login || inv.email, email: inv.email, display_name: inv.name, password_hash: null, temp_password_expires_at: null,
    }, input.password, input.confirmation));
  }
  if (errors.length > 0) return { ok: false, errors };
  const hash = await ctx.hasher.hash(normalisePassword(input.password));
  const now = ctx.clock.now();
  const userId = randomUUID();
  const { config } = ctx;
  return inTransaction(ctx, async (trx) => {
    const clash = await trx.selectFrom('users').select(['login', 'email'])
      .where((eb) => eb.or([eb('login', '=', login), eb('email', '=', inv.email)])).executeTakeFirst();
    if (clash) {
      if (clash.login === login) return { ok: false as const, errors: [{ field: ACCEPT_FIELDS.login, code: 'login-taken' }] };
      return { ok: false as const, gone: true as const };
    }
    await trx.insertInto('users').values({ id: userId, login, email: inv.email, display_name: inv.name, roles: [], created_at: now, updated_at: now }).execute();
    if (!(await claim(trx, inv.id, now, userId))) throw new GoneError();
    await storePassword(trx, userId, hash, now, { temporaryUntil: null, keep: config.passwordHistory });
    await audit(trx, now, { type: 'account.created', userId, actorId: inv.invited_by, establishmentId: inv.establishment_id, origin, details: { via: 'invitation', invitation: inv.id } });
    await grantRights(trx, userId, inv.establishment_id, inv.rights, now, origin, inv.invited_by);
    await audit(trx, now, { type: 'invitation.accepted', userId, actorId: inv.invited_by, establishmentId: inv.establishment_id, origin, details: { invitation: inv.id, rights: inv.rights } });
    const session = await createSession(trx, userId, 'full', origin, now, { idleMs: config.sessionIdleTtlMs, maxMs: config.sessionMaxTtlMs }, 'invitation');
    return { ok: true as const, sessionToken: session.token, userId };
  }).catch((error: unknown) => {
    if (error instanceof GoneError) return { ok: false as const, gone: true as const };
    throw error;
  });
}

class GoneError extends Error {}

/** An existing account accepts (from the link while signed in, or from « Mon compte »): access starts now. */
export async function acceptAsExisting(
  ctx: Context,
  userId: string,
  which: { token: string } | { id: string },
  origin: Origin,
): Promise<{ establishmentName: string } | undefined> {
  const now = ctx.clock.now();
  let inv: NonNullable<FoundInvitation> | undefined;
  if ('token' in which) inv = await findInvitationByToken(ctx, which.token);
  else if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(which.id)) {
    inv = (await pendingInvitationsFor(ctx, userId)).find((i) => i.id === which.id);
  }
  if (!inv || inv.user_id !== userId) return undefined;
  const found = inv;
  return inTransaction(ctx, async (trx) => {
    if (!(await claim(trx, found.id, now, userId))) return undefined;
    await grantRights(trx, userId, found.establishment_id, found.rights, now, origin, found.invited_by);
    await audit(trx, now, { type: 'invitation.accepted', userId, actorId: found.invited_by, establishmentId: found.establishment_id, origin, details: { invitation: found.id, rights: found.rights } });
    return { establishmentName: found.establishment_name };
  });
}

/** Invitations waiting for this account (« Mon compte »). */
export async function pendingInvitationsFor(ctx: Context, userId: string) {
  return ctx.db.selectFrom('invitations').innerJoin('establishments', 'establishments.id', 'invitations.establishment_id')
    .selectAll('invitations').select('establishments.name as establishment_name')
    .where('user_id', '=', userId).where('accepted_at', 'is', null).where('cancelled_at', 'is', null)
    .where('expires_at', '>', ctx.clock.now())
    .orderBy('invitations.created_at').execute();
}
