import type { FastifyReply, FastifyRequest } from 'fastify';
import { SESSION_COOKIE } from './app.ts';

/** `__Host-` prefix: Secure, Path=/, no Domain — the cookie cannot be set or read by a sibling host. */
const OPTIONS = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' } as const;

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
