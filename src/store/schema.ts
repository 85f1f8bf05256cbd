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
  /** E.164 mobile number used for codes once verified (« Téléphone de secours »). */
  backup_phone: ColumnType<string | null, string | null | undefined, string | null>;
  backup_phone_verified_at: NullableTimestamp;
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
  /** How the second factor was passed ('email', 'sms', 'totp', 'webauthn', 'recovery', 'trusted-browser'), if any. */
  second_factor: ColumnType<string | null, string | null | undefined, string | null>;
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
  /** Who acted, when not the subject themself (an administrator, a support agent). */
  actor_id: ColumnType<string | null, string | null | undefined, string | null>;
  establishment_id: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface OutboxTable {
  id: Generated<string>;
  channel: 'mail' | 'sms';
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

export type SecondFactorMethod = 'email' | 'sms' | 'totp' | 'webauthn' | 'recovery';

export interface LoginChallengesTable {
  id: string;
  token_hash: string;
  user_id: string;
  /** The session scope granted once the second factor is passed. */
  scope: 'full' | 'password-change';
  created_at: Timestamp;
  expires_at: Timestamp;
  method: ColumnType<SecondFactorMethod | null, SecondFactorMethod | null | undefined, SecondFactorMethod | null>;
  code_hash: ColumnType<string | null, string | null | undefined, string | null>;
  code_expires_at: NullableTimestamp;
  code_sent_at: NullableTimestamp;
  code_outbox_id: ColumnType<string | null, string | null | undefined, string | null>;
  sends: ColumnType<number, number | undefined, number>;
  failures: ColumnType<number, number | undefined, number>;
  webauthn_challenge: ColumnType<string | null, string | null | undefined, string | null>;
  ip: string;
  user_agent: string;
}

export interface OtpSendsTable {
  id: Generated<string>;
  at: Timestamp;
  user_id: string | null;
  ip: string;
  channel: 'email' | 'sms';
  recipient: string;
}

export interface TrustedBrowsersTable {
  token_hash: string;
  id: string;
  user_id: string;
  family: string;
  user_agent: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  last_used_at: Timestamp;
}

export interface PhoneVerificationsTable {
  user_id: string;
  phone: string;
  code_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  failures: ColumnType<number, number | undefined, number>;
}

export interface TotpCredentialsTable {
  user_id: string;
  secret: string;
  created_at: Timestamp;
  confirmed_at: NullableTimestamp;
  last_step: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export interface WebauthnCredentialsTable {
  id: string;
  user_id: string;
  public_key: string;
  counter: ColumnType<string, string | number | undefined, string | number>;
  transports: ColumnType<string[], string[] | undefined, string[]>;
  name: string;
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
}

export interface WebauthnRegistrationsTable {
  session_id: string;
  challenge: string;
  expires_at: Timestamp;
}

export interface RecoveryCodesTable {
  id: Generated<string>;
  user_id: string;
  code_hash: string;
  created_at: Timestamp;
  used_at: NullableTimestamp;
}

export type RightName = 'admin' | 'patient-data' | 'member';

export interface EstablishmentsTable {
  id: string;
  name: string;
  finess: string | null;
  status: ColumnType<'active' | 'closed', 'active' | 'closed' | undefined, 'active' | 'closed'>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface UserRightsTable {
  user_id: string;
  establishment_id: string;
  right_name: RightName;
  granted_at: Timestamp;
  granted_by: string | null;
}

export interface InvitationsTable {
  id: string;
  token_hash: string;
  email: string;
  name: string;
  /** Set when an existing account is invited (« Utilisateur existant ») or once a new one accepted. */
  user_id: string | null;
  establishment_id: string;
  rights: ColumnType<RightName[], RightName[], RightName[]>;
  invited_by: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  sent_at: Timestamp;
  accepted_at: NullableTimestamp;
  cancelled_at: NullableTimestamp;
}

export interface SupportRequestsTable {
  id: string;
  kind: 'forgotten-identifier' | 'not-me' | 'other';
  created_at: Timestamp;
  email: string | null;
  user_id: string | null;
  message: ColumnType<string, string | undefined, string>;
  ip: string;
  user_agent: string;
  handled_at: NullableTimestamp;
  handled_by: string | null;
  resolution: string | null;
}

export interface ApiTokensTable {
  id: string;
  token_hash: string;
  name: string;
  created_by: string | null;
  establishment_ids: string[];
  created_at: Timestamp;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
}

export interface KnownBrowsersTable {
  user_id: string;
  device_hash: string;
  user_agent: string;
  first_seen_at: Timestamp;
  last_seen_at: Timestamp;
}

export interface CaptchaSpentTable {
  id: string;
  expires_at: Timestamp;
}

export interface Database {
  invitations: InvitationsTable;
  support_requests: SupportRequestsTable;
  api_tokens: ApiTokensTable;
  known_browsers: KnownBrowsersTable;
  establishments: EstablishmentsTable;
  user_rights: UserRightsTable;
  captcha_spent: CaptchaSpentTable;
  login_challenges: LoginChallengesTable;
  otp_sends: OtpSendsTable;
  trusted_browsers: TrustedBrowsersTable;
  phone_verifications: PhoneVerificationsTable;
  totp_credentials: TotpCredentialsTable;
  webauthn_credentials: WebauthnCredentialsTable;
  webauthn_registrations: WebauthnRegistrationsTable;
  recovery_codes: RecoveryCodesTable;
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
export type LoginChallenge = Selectable<LoginChallengesTable>;
export type Establishment = Selectable<EstablishmentsTable>;
