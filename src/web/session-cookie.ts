import type { FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE } from './app.ts';

/** `__Host-` prefix: Secure, Path=/, no Domain — the cookie cannot be set or read by a sibling host. */
const OPTIONS = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' } as const;

/** The sign-in waiting for its second factor: not a session, and useless without the code. */
export const CHALLENGE_COOKIE = '__Host-sesame-2fa';
/** « Enregistrer la double authentification pendant 24h »: this browser, this user. */
export const TRUST_COOKIE = '__Host-sesame-confiance';

export function setChallengeCookie(reply: FastifyReply, token: string): void {
  reply.setCookie(CHALLENGE_COOKIE, token, OPTIONS);
}

export function clearChallengeCookie(reply: FastifyReply): void {
  reply.clearCookie(CHALLENGE_COOKIE, OPTIONS);
}

export function setTrustCookie(reply: FastifyReply, token: string, ttlMs: number): void {
  reply.setCookie(TRUST_COOKIE, token, { ...OPTIONS, maxAge: Math.floor(ttlMs / 1000) });
}

export function clearTrustCookie(reply: FastifyReply): void {
  reply.clearCookie(TRUST_COOKIE, OPTIONS);
}

/** A long-lived random id of this browser, to announce sign-ins from a browser not seen before. */
export const DEVICE_COOKIE = '__Host-sesame-appareil';
const DEVICE_COOKIE_MAX_AGE_S = 365 * 24 * 3600;

export function setDeviceCookie(reply: FastifyReply, token: string): void {
  reply.setCookie(DEVICE_COOKIE, token, { ...OPTIONS, maxAge: DEVICE_COOKIE_MAX_AGE_S });
}

export function setSessionCookie(reply: FastifyReply, token: string): void {
  reply.setCookie(SESSION_COOKIE, token, OPTIONS);
}

export function clearSessionCookie(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, OPTIONS);
}

/** Where a signed-in person belongs: the first-connection page until the temporary password is replaced. */
export function homeFor(req: FastifyRequest): string {
  if (!req.auth) return '/connexion';
  return req.auth.session.scope === 'password-change' ? '/premiere-connexion' : '/compte';
}

/**
 * The second factor passed (by code or by passkey): the attempt's cookie goes, the session starts, the
 * trust and device cookies are set when the flow made them, and the user goes where the session leads.
 */
export function enterAfterSecondFactor(
  reply: FastifyReply,
  outcome: { sessionToken: string; scope: 'full' | 'password-change'; trustToken?: string; deviceToken?: string },
  trustTtlMs: number,
): FastifyReply {
  clearChallengeCookie(reply);
  setSessionCookie(reply, outcome.sessionToken);
  if (outcome.trustToken) setTrustCookie(reply, outcome.trustToken, trustTtlMs);
  if (outcome.deviceToken) setDeviceCookie(reply, outcome.deviceToken);
  return reply.redirect(outcome.scope === 'password-change' ? '/premiere-connexion' : '/compte', 303);
}
