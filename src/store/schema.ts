import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Timestamps are written and read as Date objects; the clock is the application's, never the database's. */
type Timestamp = ColumnType<Date, Date, Date>;
type NullableTimestamp = ColumnType<Date | null, Date | null | undefined, Date | null>;

export interface UsersTable {
  id: string;
  login: string;
  email: string;
  display_name: string;
  roles: ColumnType<string[], string[] | undefined, string[]>;
  password_hash: string | null;
  /** A temporary password must be replaced at the first sign-in and stops working at this time. */
  temp_password_expires_at: NullableTimestamp;
  password_changed_at: NullableTimestamp;
  failed_count: ColumnType<number, number | undefined, number>;
  locked_at: NullableTimestamp;
  disabled_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface PasswordHistoryTable {
  id: Generated<string>;
  user_id: string;
  password_hash: string;
  created_at: Timestamp;
}

export interface SessionsTable {
  token_hash: string;
  /** Public handle shown in « Mon compte » to end one session; the token itself never leaves the cookie. */
  id: string;
  user_id: string;
  /** 'full' opens the portal; 'password-change' opens only the first-connection page. */
  scope: 'full' | 'password-change';
  created_at: Timestamp;
  last_seen_at: Timestamp;
  expires_at: Timestamp;
  ip: string;
  user_agent: string;
}

export interface ResetTokensTable {
  token_hash: string;
  user_id: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
}

export interface AuditEventsTable {
  id: Generated<string>;
  at: Timestamp;
  type: string;
  user_id: string | null;
  /** What was typed when no account matched, so support can answer "it wasn't me" (never a secret). */
  subject: string | null;
  ip: string | null;
  user_agent: string | null;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface OutboxTable {
  id: Generated<string>;
  channel: 'mail';
  recipient: string;
  subject: string;
  /** Body parts are erased once delivered: they may carry a temporary password or a link. */
  body_text: string | null;
  body_html: string | null;
  created_at: Timestamp;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  sent_at: NullableTimestamp;
  last_error: string | null;
}

export interface DevMailboxTable {
  id: Generated<string>;
  at: Timestamp;
  recipient: string;
  sender: string;
  subject: string;
  body_text: string;
  body_html: string;
}

export interface IpFailuresTable {
  ip: string;
  window_start: Timestamp;
  failures: number;
}

export interface SettingsTable {
  key: string;
  value: string;
}

export interface CaptchaSpentTable {
  id: string;
  expires_at: Timestamp;
}

export interface Database {
  captcha_spent: CaptchaSpentTable;
  users: UsersTable;
  password_history: PasswordHistoryTable;
  sessions: SessionsTable;
  reset_tokens: ResetTokensTable;
  audit_events: AuditEventsTable;
  outbox: OutboxTable;
  dev_mailbox: DevMailboxTable;
  ip_failures: IpFailuresTable;
  settings: SettingsTable;
}

export type User = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type Session = Selectable<SessionsTable>;
export type AuditEvent = Selectable<AuditEventsTable>;
export type OutboxMessage = Selectable<OutboxTable>;
