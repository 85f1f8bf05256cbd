import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.ts';

/**
 * One list of migrations for PostgreSQL and PGlite alike. Each runs once, in a transaction, under an
 * advisory lock so that two instances starting together do not race. Never edit a released migration:
 * add the next one.
 */
const MIGRATIONS: { id: string; up: string }[] = [
  {
    id: '0001-foundation',
    up: `
create table users (
  id uuid primary key,
  login text not null unique,
  email text not null unique,
  display_name text not null,
  roles text[] not null default '{}',
  password_hash text,
  temp_password_expires_at timestamptz,
  password_changed_at timestamptz,
  failed_count integer not null default 0,
  locked_at timestamptz,
  disabled_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);

create table password_history (
  id bigserial primary key,
  user_id uuid not null references users(id) on delete cascade,
  password_hash text not null,
  created_at timestamptz not null
);
create index password_history_user on password_history (user_id, created_at desc);

create table sessions (
  token_hash text primary key,
  id uuid not null unique,
  user_id uuid not null references users(id) on delete cascade,
  scope text not null check (scope in ('full', 'password-change')),
  created_at timestamptz not null,
  last_seen_at timestamptz not null,
  expires_at timestamptz not null,
  ip text not null,
  user_agent text not null
);
create index sessions_user on sessions (user_id);

create table reset_tokens (
  token_hash text primary key,
  user_id uuid not null references users(id) on delete cascade,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  used_at timestamptz
);
create index reset_tokens_user on reset_tokens (user_id);

create table audit_events (
  id bigserial primary key,
  at timestamptz not null,
  type text not null,
  user_id uuid,
  subject text,
  ip text,
  user_agent text,
  details jsonb not null default '{}'
);
create index audit_events_user on audit_events (user_id, at desc);
create index audit_events_at on audit_events (at);

create table outbox (
  id bigserial primary key,
  channel text not null,
  recipient text not null,
  subject text not null,
  body_text text,
  body_html text,
  created_at timestamptz not null,
  attempts integer not null default 0,
  next_attempt_at timestamptz not null,
  sent_at timestamptz,
  last_error text
);
create index outbox_pending on outbox (next_attempt_at) where sent_at is null;

create table dev_mailbox (
  id bigserial primary key,
  at timestamptz not null,
  recipient text not null,
  sender text not null,
  subject text not null,
  body_text text not null,
  body_html text not null
);

create table ip_failures (
  ip text not null,
  window_start timestamptz not null,
  failures integer not null,
  primary key (ip, window_start)
);

create table settings (
  key text primary key,
  value text not null
);

-- Solved captcha challenges, kept until they expire so that none can be replayed.
create table captcha_spent (
  id text primary key,
  expires_at timestamptz not null
);
`,
  },
  {
    id: '0002-second-factor',
    up: `
alter table users add column backup_phone text;
alter table users add column backup_phone_verified_at timestamptz;

-- A sign-in that passed the password and waits for its second factor. No session exists until it is done.
create table login_challenges (
  id uuid primary key,
  token_hash text not null unique,
  user_id uuid not null references users(id) on delete cascade,
  scope text not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  method text,
  code_hash text,
  code_expires_at timestamptz,
  code_sent_at timestamptz,
  code_outbox_id bigint,
  sends integer not null default 0,
  failures integer not null default 0,
  webauthn_challenge text,
  ip text not null,
  user_agent text not null
);
create index login_challenges_user on login_challenges (user_id);

-- Every code sent, for the caps per user, per address and per phone number.
create table otp_sends (
  id bigserial primary key,
  at timestamptz not null,
  user_id uuid,
  ip text not null,
  channel text not null,
  recipient text not null
);
create index otp_sends_at on otp_sends (at);

create table trusted_browsers (
  token_hash text primary key,
  id uuid not null unique,
  user_id uuid not null references users(id) on delete cascade,
  family text not null,
  user_agent text not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  last_used_at timestamptz not null
);
create index trusted_browsers_user on trusted_browsers (user_id);

create table phone_verifications (
  user_id uuid primary key references users(id) on delete cascade,
  phone text not null,
  code_hash text not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  failures integer not null default 0
);

create table totp_credentials (
  user_id uuid primary key references users(id) on delete cascade,
  secret text not null,
  created_at timestamptz not null,
  confirmed_at timestamptz,
  last_step bigint
);

create table webauthn_credentials (
  id text primary key,
  user_id uuid not null references users(id) on delete cascade,
  public_key text not null,
  counter bigint not null default 0,
  transports text[] not null default '{}',
  name text not null,
  created_at timestamptz not null,
  last_used_at timestamptz
);
create index webauthn_credentials_user on webauthn_credentials (user_id);

-- A WebAuthn registration under way, bound to the session that started it.
create table webauthn_registrations (
  session_id uuid primary key,
  challenge text not null,
  expires_at timestamptz not null
);

create table recovery_codes (
  id bigserial primary key,
  user_id uuid not null references users(id) on delete cascade,
  code_hash text not null,
  created_at timestamptz not null,
  used_at timestamptz
);
create index recovery_codes_user on recovery_codes (user_id);

alter table sessions add column second_factor text;
`,
  },
  {
    id: '0003-establishments',
    up: `
create table establishments (
  id uuid primary key,
  name text not null,
  finess text unique,
  status text not null default 'active' check (status in ('active', 'closed')),
  created_at timestamptz not null,
  updated_at timestamptz not null
);

-- Rights are held per establishment: admin manages its users, patient-data uses tools with patient data.
create table user_rights (
  user_id uuid not null references users(id) on delete cascade,
  establishment_id uuid not null references establishments(id) on delete cascade,
  right_name text not null check (right_name in ('admin', 'patient-data', 'member')),
  granted_at timestamptz not null,
  granted_by uuid,
  primary key (user_id, establishment_id, right_name)
);
create index user_rights_establishment on user_rights (establishment_id);

alter table audit_events add column actor_id uuid;
alter table audit_events add column establishment_id uuid;
create index audit_events_establishment on audit_events (establishment_id, at desc);

-- The audit log is append-only: no code path updates or deletes it, and the database refuses it too.
-- Only the retention purge may delete, inside a transaction that says so (set local sesame.audit_purge).
create function sesame_audit_append_only() returns trigger language plpgsql as $fn$
begin
  if tg_op = 'DELETE' and current_setting('sesame.audit_purge', true) = 'on' then
    return old;
  end if;
  raise exception 'audit_events is append-only (% refused)', tg_op;
end
$fn$;
create trigger audit_events_append_only before update or delete on audit_events
  for each row execute function sesame_audit_append_only();
`,
  },
  {
    id: '0004-administration',
    up: `
-- « Envoyer l'invitation »: a single-use link to join an establishment with given rights.
create table invitations (
  id uuid primary key,
  token_hash text not null unique,
  email text not null,
  name text not null,
  user_id uuid references users(id) on delete cascade,
  establishment_id uuid not null references establishments(id) on delete cascade,
  rights text[] not null,
  invited_by uuid,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  sent_at timestamptz not null,
  accepted_at timestamptz,
  cancelled_at timestamptz
);
create index invitations_establishment on invitations (establishment_id);
create index invitations_email on invitations (email);

-- Requests from the public pages that support handles: « Identifiant oublié », « Ce n'était pas moi ».
create table support_requests (
  id uuid primary key,
  kind text not null check (kind in ('forgotten-identifier', 'not-me', 'other')),
  created_at timestamptz not null,
  email text,
  user_id uuid references users(id) on delete set null,
  message text not null default '',
  ip text not null,
  user_agent text not null,
  handled_at timestamptz,
  handled_by uuid,
  resolution text
);
create index support_requests_open on support_requests (created_at) where handled_at is null;

-- API tokens for /api/v1, made by a platform admin, scoped to establishments, revocable.
create table api_tokens (
  id uuid primary key,
  token_hash text not null unique,
  name text not null,
  created_by uuid,
  establishment_ids uuid[] not null,
  created_at timestamptz not null,
  last_used_at timestamptz,
  revoked_at timestamptz
);

-- Browsers a user has signed in from (a long-lived random device cookie, stored hashed): a sign-in from
-- one not seen before is announced by mail.
create table known_browsers (
  user_id uuid not null references users(id) on delete cascade,
  device_hash text not null,
  user_agent text not null,
  first_seen_at timestamptz not null,
  last_seen_at timestamptz not null,
  primary key (user_id, device_hash)
);
`,
  },
];

/** Splits a script at the semicolons that end a line, leaving dollar-quoted bodies ($fn$ … $fn$) whole. */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (const line of script.split('\n')) {
    current += line + '\n';
    for (const tag of line.match(/\$[A-Za-z_]*\$/g) ?? []) {
      if (quote === null) quote = tag;
      else if (tag === quote) quote = null;
    }
    if (quote === null && /;\s*$/.test(line)) {
      statements.push(current.trim().replace(/;$/, ''));
      current = '';
    }
  }
  if (current.trim()) statements.push(current.trim());
  return statements.filter(Boolean);
}

export async function migrate(db: Kysely<Database>): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    // The same key on every instance: the second waits for the first to finish.
    await sql`select pg_advisory_xact_lock(7358102)`.execute(trx);
    await sql`create table if not exists sesame_migrations (id text primary key, applied_at timestamptz not null default now())`.execute(trx);
    const done = await sql<{ id: string }>`select id from sesame_migrations`.execute(trx);
    const applied = new Set(done.rows.map((r) => r.id));
    const ran: string[] = [];
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.id)) continue;
      // One statement at a time: PGlite's extended protocol takes a single command per query.
      for (const statement of splitStatements(migration.up)) {
        await sql.raw(statement).execute(trx);
      }
      await sql`insert into sesame_migrations (id) values (${migration.id})`.execute(trx);
      ran.push(migration.id);
    }
    return ran;
  });
}
