import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

/** Every security event, as named in the audit log. Never put a password, code or token in `details`. */
export type AuditType =
  | 'login.success'
  | 'login.failure'
  | 'login.throttled'
  | 'account.created'
  | 'account.locked'
  | 'account.unlocked'
  | 'password.temporary.issued'
  | 'password.changed'
  | 'password.reset.requested'
  | 'password.reset'
  | 'identifier.reminder.requested'
  | 'session.ended'
  | 'sessions.ended.others'
  | 'second-factor.required'
  | 'second-factor.code.sent'
  | 'second-factor.success'
  | 'second-factor.failure'
  | 'second-factor.abandoned'
  | 'second-factor.method.added'
  | 'second-factor.method.removed'
  | 'second-factor.reset'
  | 'trusted-browser.added'
  | 'trusted-browser.revoked'
  | 'backup-phone.code.sent'
  | 'backup-phone.changed'
  | 'backup-phone.removed'
  | 'establishment.created'
  | 'rights.granted'
  | 'staff-role.granted'
  | 'invitation.sent'
  | 'invitation.resent'
  | 'invitation.cancelled'
  | 'invitation.accepted'
  | 'rights.changed'
  | 'rights.revoked'
  | 'account.removed-from-establishment'
  | 'account.deleted'
  | 'account.disabled'
  | 'account.enabled'
  | 'support.request.created'
  | 'support.request.handled'
  | 'support.action'
  | 'api-token.created'
  | 'api-token.revoked'
  | 'audit.exported'
  | 'audit.purged'
  | 'login.new-browser';

export interface Origin {
  ip: string;
  userAgent: string;
}

export const CLI_ORIGIN: Origin = { ip: 'cli', userAgent: 'sesame-cli' };

export interface AuditInput {
  type: AuditType;
  userId?: string | null;
  actorId?: string | null;
  establishmentId?: string | null;
  subject?: string | null;
  origin: Origin;
  details?: Record<string, unknown>;
}

export async function audit(db: Kysely<Database>, now: Date, event: AuditInput): Promise<void> {
  await db.insertInto('audit_events').values({
    at: now,
    type: event.type,
    user_id: event.userId ?? null,
    subject: event.subject ? event.subject.slice(0, 254) : null,
    ip: event.origin.ip.slice(0, 64),
    user_agent: event.origin.userAgent.slice(0, 512),
    details: JSON.stringify(event.details ?? {}),
    actor_id: event.actorId ?? null,
    establishment_id: event.establishmentId ?? null,
  }).execute();
}

export async function recentEvents(db: Kysely<Database>, userId: string, limit = 20) {
  return db.selectFrom('audit_events')
    .select(['at', 'type', 'ip', 'user_agent', 'details'])
    .where('user_id', '=', userId)
    .orderBy('at', 'desc').orderBy('id', 'desc')
    .limit(limit)
    .execute();
}
