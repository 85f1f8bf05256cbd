import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config.ts';
import { createContext, type Context } from '../../src/context.ts';
import { ManualClock } from '../../src/domain/clock.ts';
import { createAccount } from '../../src/flows/accounts.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { buildApp } from '../../src/web/app.ts';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { WebClient, type WebClientOptions } from './http.ts';
import { createTestDatabase } from './postgres.ts';
import { startSmtpSink, type Mail, type SmtpSink } from './smtp.ts';

export type Engine = 'pglite' | 'postgres';
export const ENGINES: Engine[] = ['pglite', 'postgres'];

/** Cheaper argon2id for the suite (the production parameters are checked in their own test). */
export const TEST_HASH_PARAMS = { memoryCost: 4096, timeCost: 1, parallelism: 1 };

export interface Portal {
  engine: Engine;
  url: string;
  ctx: Context;
  config: Config;
  app: FastifyInstance;
  clock: ManualClock;
  smtp: SmtpSink;
  client(opts?: WebClientOptions): WebClient;
  /** Runs the outbox worker once, as its timer would. */
  deliver(): Promise<{ sent: number; failed: number }>;
  /** Delivers the outbox, then waits for a mail to that address whose subject matches. */
  mail(to: string, subject: RegExp): Promise<Mail>;
  /** Creates an account through the same flow as the CLI and returns its temporary password. */
  createUser(login: string, opts?: { email?: string; name?: string; roles?: string[] }): Promise<{ login: string; email: string; temporary: string; userId: string }>;
  /** Creates an account and completes its first connection: returns a signed-in client. */
  activeUser(login: string, password?: string): Promise<{ client: WebClient; login: string; email: string; password: string; userId: string }>;
  close(): Promise<void>;
}

export const STRONG_PASSWORD = 'Vq8#trombone-Lilas42';

/**
 * A real portal on loopback: real HTTP, a real database (PGlite in memory, or a fresh database on the
 * suite's PostgreSQL server), a real SMTP server receiving the mails. Time is a ManualClock.
 */
export async function startPortal(engine: Engine, env: Record<string, string> = {}): Promise<Portal> {
  const smtp = await startSmtpSink();
  const database = engine === 'postgres' ? await createTestDatabase(inject('pgAdminUrl')) : undefined;
  const config = loadConfig({
    PORT: '0',
    SESAME_SMTP_URL: smtp.url,
    SESAME_PORTAL_NAME: 'Portail Test',
    SESAME_SUPPORT_EMAIL: 'support@test.example',
    SESAME_SUPPORT_PHONE: '01 23 45 67 89',
    SESAME_PUBLIC_URL: 'https://portail.test.example',
    SESAME_LOG_LEVEL: 'silent',
    ...(database ? { DATABASE_URL: database.url } : { SESAME_DATA_DIR: 'memory://' }),
    ...env,
  });
  const clock = new ManualClock();
  const ctx = await createContext(config, { clock, hashParams: TEST_HASH_PARAMS, log: pino({ level: 'silent' }) });
  const app = await buildApp(ctx);
  // PORT 0 (the default) picks a free port; a test whose SESAME_PUBLIC_URL names the port passes PORT too.
  await app.listen({ port: config.port, host: '127.0.0.1' });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const portal: Portal = {
    engine,
    url,
    ctx,
    config,
    app,
    clock,
    smtp,
    client: (opts) => new WebClient(url, opts),
    deliver: () => ctx.outbox.deliverDue(),
    async mail(to, subject) {
      await ctx.outbox.deliverDue();
      return smtp.waitFor((m) => m.to.includes(to) && subject.test(m.subject));
    },
    async createUser(login, opts = {}) {
      const email = opts.email ?? `${login}@hopital.test.example`;
      const result = await createAccount(ctx, { login, email, name: opts.name ?? 'Camille Martin', roles: opts.roles ?? [] }, CLI_ORIGIN);
      if (!result.ok) throw new Error(`createUser: ${JSON.stringify(result.errors)}`);
      const mail = await portal.mail(email, /mot de passe provisoire/);
      const temporary = /mot de passe provisoire suivant :\s*\n*\s*Mot de passe provisoire : (\S+)/.exec(mail.text)?.[1];
      if (!temporary) throw new Error(`no temporary password in:\n${mail.text}`);
      return { login, email, temporary, userId: result.userId };
    },
    async activeUser(login, password = STRONG_PASSWORD) {
      const user = await portal.createUser(login);
      const client = portal.client();
      const signIn = await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary });
      if (signIn.location !== '/premiere-connexion') throw new Error(`first sign-in: ${signIn.status} ${signIn.location}`);
      const done = await client.submit('/premiere-connexion', { nouveau_mot_de_passe: password, confirmation: password });
      if (done.status !== 200) throw new Error(`first connection: ${done.status} ${done.location}\n${done.text}`);
      return { client, login, email: user.email, password, userId: user.userId };
    },
    async close() {
      await app.close();
      await ctx.close();
      await smtp.close();
      await database?.drop();
    },
  };
  return portal;
}
