import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticationResponseJSON, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Context } from '../context.ts';
import { addMs } from '../domain/clock.ts';
import { securityNoticeMail } from '../notify/mails.ts';
import { audit, type Origin } from '../store/audit.ts';
import type { Session, User } from '../store/schema.ts';
import { inTransaction, queueMail, type FieldError } from './common.ts';
import { reauthenticate } from './reauthenticate.ts';
import type { OpenChallenge } from './second-factor.ts';

/**
 * Passkeys (WebAuthn), the phishing-resistant second factor. The browser signs a challenge with a key
 * that only works on this portal's RP ID (the hostname of SESAME_PUBLIC_URL) and origin, so a look-alike
 * site gets nothing it can replay.
 *
 * Adding or removing one needs the current password first (reauthenticate: a guess that counts towards
 * the lockout, as for « Changer mon mot de passe »); the registration then waits in webauthn_registrations, bound to
 * the session, for the browser's answer. At sign-in the challenge lives on the login challenge row and
 * is consumed by the first answer, right or wrong.
 */
export const MAX_PASSKEYS = 10;
export const MAX_PASSKEY_NAME = 60;
/** How long the browser ceremony may take after the password was confirmed. */
export const REGISTRATION_TTL_MS = 5 * 60_000;
/** What navigator.credentials may wait for the person (a hint to the browser). */
const CEREMONY_TIMEOUT_MS = 120_000;
/** A browser's answer is a few kilobytes at most; anything bigger is not one. */
export const MAX_RESPONSE_LENGTH = 16_384;

const rpOf = (ctx: Context) => ({ rpID: ctx.config.publicUrl.hostname, origin: ctx.config.publicUrl.origin });
const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64url'));

/** A refused current password: `locked` when that guess locked the account (its sessions have ended). */
export type Refused = { ok: false; reason: 'password'; locked: boolean; errors: FieldError[] };

export type BeginRegistration =
  | { ok: true; options: PublicKeyCredentialCreationOptionsJSON }
  | Refused
  | { ok: false; reason: 'too-many' };

/** « Ajouter une clé d'accès », step 1: the password, then the options for navigator.credentials.create. */
export async function beginPasskeyRegistration(ctx: Context, user: User, session: Session, password: string, origin: Origin): Promise<BeginRegistration> {
  const existing = await ctx.db.selectFrom('webauthn_credentials').select(['id', 'transports']).where('user_id', '=', user.id).execute();
  if (existing.length >= MAX_PASSKEYS) return { ok: false, reason: 'too-many' };
  const reauth = await reauthenticate(ctx, user, password, origin, { during: 'passkey-add' });
  if (!reauth.ok) return { ok: false, reason: 'password', locked: reauth.locked, errors: reauth.errors };
  const { rpID } = rpOf(ctx);
  const options = await generateRegistrationOptions({
    rpName: ctx.config.portalName,
    rpID,
    userName: user.login,
    userDisplayName: user.display_name,
    // Always the same handle for a person: an authenticator replaces its passkey rather than piling them up.
    userID: new Uint8Array(Buffer.from(user.id, 'utf8')),
    timeout: CEREMONY_TIMEOUT_MS,
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  const now = ctx.clock.now();
  const expiresAt = addMs(now, REGISTRATION_TTL_MS);
  await ctx.db.insertInto('webauthn_registrations')
    .values({ session_id: session.id, challenge: options.challenge, expires_at: expiresAt })
    .onConflict((oc) => oc.column('session_id').doUpdateSet({ challenge: options.challenge, expires_at: expiresAt }))
    .execute();
  return { ok: true, options };
}

export type FinishRegistration =
  | { ok: true; id: string; name: string }
  | { ok: false; reason: 'expired' | 'invalid' | 'duplicate' | 'too-many' };

/**
 * « Ajouter une clé d'accès », step 2: the browser's answer. The registration is consumed first, so an
 * answer works once, within REGISTRATION_TTL_MS of the password, from the session that gave it.
 */
export async function finishPasskeyRegistration(
  ctx: Context,
  user: User,
  session: Session,
  input: { response: string; name: string },
  origin: Origin,
): Promise<FinishRegistration> {
  const now = ctx.clock.now();
  const pending = await ctx.db.deleteFrom('webauthn_registrations')
    .where('session_id', '=', session.id).where('expires_at', '>', now)
    .returning('challenge').executeTakeFirst();
  if (!pending) return { ok: false, reason: 'expired' };
  const response = parseResponse<RegistrationResponseJSON>(input.response, 'attestationObject');
  if (!response) return { ok: false, reason: 'invalid' };
  const { rpID, origin: expectedOrigin } = rpOf(ctx);
  let info;
  try {
    const verification = await verifyRegistrationResponse({
      response,
      expectedChallenge: pending.challenge,
      expectedOrigin,
      expectedRPID: rpID,
      requireUserVerification: false,
    });
    if (!verification.verified) return { ok: false, reason: 'invalid' };
    info = verification.registrationInfo;
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  const { credential } = info;
  const name = cleanName(input.name);
  return inTransaction(ctx, async (trx) => {
    const taken = await trx.selectFrom('webauthn_credentials').select('id').where('id', '=', credential.id).executeTakeFirst();
    if (taken) return { ok: false as const, reason: 'duplicate' as const };
    const count = await trx.selectFrom('webauthn_credentials').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    if (Number(count.n) >= MAX_PASSKEYS) return { ok: false as const, reason: 'too-many' as const };
    await trx.insertInto('webauthn_credentials').values({
      id: credential.id,
      user_id: user.id,
      public_key: b64u(credential.publicKey),
      counter: credential.counter,
      transports: (credential.transports ?? []).filter((t) => typeof t === 'string' && /^[a-z-]{1,20}$/.test(t)).slice(0, 8),
      name,
      created_at: now,
    }).execute();
    await audit(trx, now, { type: 'second-factor.method.added', userId: user.id, origin, details: { method: 'webauthn', name } });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name,
      `Une clé d’accès (« ${name} ») a été ajoutée à votre compte. Elle permet désormais de valider vos connexions.`), now);
    return { ok: true as const, id: credential.id, name };
  });
}

export type RemovePasskey = { ok: true; name: string } | Refused | { ok: false; reason: 'unknown' };

/** « Supprimer » in the list of passkeys, after the current password. */
export async function removePasskey(ctx: Context, user: User, credentialId: string, password: string, origin: Origin): Promise<RemovePasskey> {
  const found = await findPasskey(ctx, user.id, credentialId);
  if (!found) return { ok: false, reason: 'unknown' };
  const reauth = await reauthenticate(ctx, user, password, origin, { during: 'passkey-remove' });
  if (!reauth.ok) return { ok: false, reason: 'password', locked: reauth.locked, errors: reauth.errors };
  const now = ctx.clock.now();
  return inTransaction(ctx, async (trx) => {
    const removed = await trx.deleteFrom('webauthn_credentials').where('id', '=', credentialId).where('user_id', '=', user.id)
      .returning('name').executeTakeFirst();
    if (!removed) return { ok: false as const, reason: 'unknown' as const };
    await audit(trx, now, { type: 'second-factor.method.removed', userId: user.id, origin, details: { method: 'webauthn', name: removed.name } });
    await queueMail(ctx, trx, user.email, securityNoticeMail(ctx.brand, user.display_name,
      `La clé d’accès « ${removed.name} » a été supprimée de votre compte : elle ne permet plus de vous connecter.`), now);
    return { ok: true as const, name: removed.name };
  });
}

export function findPasskey(ctx: Context, userId: string, credentialId: string) {
  if (!credentialId || credentialId.length > 1400) return Promise.resolve(undefined);
  return ctx.db.selectFrom('webauthn_credentials').select(['id', 'name', 'created_at', 'last_used_at'])
    .where('id', '=', credentialId).where('user_id', '=', userId).executeTakeFirst();
}

/**
 * The options for navigator.credentials.get at sign-in: a fresh challenge, kept on the login
 * challenge (it replaces any earlier one), and the person's own passkeys only.
 */
export async function passkeySignInOptions(ctx: Context, open: OpenChallenge): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const credentials = await ctx.db.selectFrom('webauthn_credentials').select(['id', 'transports']).where('user_id', '=', open.user.id).execute();
  const options = await generateAuthenticationOptions({
    rpID: rpOf(ctx).rpID,
    allowCredentials: credentials.map((c) => ({ id: c.id, transports: c.transports })),
    userVerification: 'preferred',
    timeout: CEREMONY_TIMEOUT_MS,
  });
  await ctx.db.updateTable('login_challenges').set({ webauthn_challenge: options.challenge }).where('id', '=', open.challenge.id).execute();
  return options;
}

/**
 * The check `guess` runs for a passkey answer. The WebAuthn challenge is consumed before anything else
 * (one answer per challenge); the credential must be one of this person's; the signature, RP ID,
 * origin and challenge are verified; the signature counter must move forward (a cloned authenticator
 * is refused), and it is stored only if no other answer stored one meanwhile.
 */
export function passkeyCheck(ctx: Context, open: OpenChallenge, raw: string): () => Promise<boolean> {
  return async () => {
    const current = await ctx.db.selectFrom('login_challenges').select('webauthn_challenge').where('id', '=', open.challenge.id).executeTakeFirst();
    const expected = current?.webauthn_challenge;
    if (!expected) return false;
    const consumed = await ctx.db.updateTable('login_challenges').set({ webauthn_challenge: null })
      .where('id', '=', open.challenge.id).where('webauthn_challenge', '=', expected).returning('id').executeTakeFirst();
    if (!consumed) return false;
    const response = parseResponse<AuthenticationResponseJSON>(raw, 'authenticatorData');
    if (!response) return false;
    const stored = await ctx.db.selectFrom('webauthn_credentials').selectAll()
      .where('id', '=', response.id).where('user_id', '=', open.user.id).executeTakeFirst();
    if (!stored) return false;
    const { rpID, origin } = rpOf(ctx);
    let newCounter: number;
    try {
      const verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge: expected,
        expectedOrigin: origin,
        expectedRPID: rpID,
        credential: { id: stored.id, publicKey: bytes(stored.public_key), counter: Number(stored.counter), transports: stored.transports },
        requireUserVerification: false,
      });
      if (!verification.verified) return false;
      newCounter = verification.authenticationInfo.newCounter;
    } catch {
      return false; // wrong challenge, origin or RP ID, or a counter that went backwards
    }
    const used = await ctx.db.updateTable('webauthn_credentials')
      .set({ counter: newCounter, last_used_at: ctx.clock.now() })
      .where('id', '=', stored.id).where('counter', '=', stored.counter)
      .returning('id').executeTakeFirst();
    return Boolean(used);
  };
}

/** The browser's JSON answer, or undefined when it is not even shaped like one. */
function parseResponse<T extends { id: string; response: object }>(raw: string, part: string): T | undefined {
  if (!raw || raw.length > MAX_RESPONSE_LENGTH) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const inner = v.response as Record<string, unknown> | undefined;
  if (typeof v.id !== 'string' || typeof v.rawId !== 'string' || v.type !== 'public-key') return undefined;
  if (!inner || typeof inner !== 'object' || typeof inner.clientDataJSON !== 'string' || typeof inner[part] !== 'string') return undefined;
  if (typeof v.clientExtensionResults !== 'object' || v.clientExtensionResults === null) v.clientExtensionResults = {};
  return v as unknown as T;
}

/** A name to recognise the passkey by: one line, no control characters, MAX_PASSKEY_NAME at most. */
export function cleanName(name: string, fallback = 'Clé d’accès'): string {
  const clean = Array.from(name.replace(/[\p{Cc}\p{Cf}]/gu, ' ').replace(/\s+/g, ' ').trim()).slice(0, MAX_PASSKEY_NAME).join('').trim();
  return clean || fallback;
}
