import pino, { type Logger } from 'pino';
import type { Config } from './config.ts';
import { systemClock, type Clock } from './domain/clock.ts';
import type { CommonPasswordList } from './domain/password-policy.ts';
import type { Branding } from './notify/mails.ts';
import { OutboxWorker } from './notify/outbox.ts';
import { devSmsTransport, httpSmsGateway, type SmsTransport } from './notify/sms.ts';
import { devMailboxTransport, smtpTransport, type MailTransport } from './notify/transport.ts';
import { loadCommonPasswords } from './security/common-passwords.ts';
import { PasswordHasher, type HashParams } from './security/hasher.ts';
import { openDatabase, type Db } from './store/database.ts';
import { migrate } from './store/migrations.ts';

/** Everything a flow needs, built once at start: the only place where the parts are wired together. */
export interface Context {
  config: Config;
  db: Db;
  engine: 'postgres' | 'pglite';
  clock: Clock;
  hasher: PasswordHasher;
  commonPasswords: CommonPasswordList;
  outbox: OutboxWorker;
  transport: MailTransport;
  log: Logger;
  brand: Branding;
  close(): Promise<void>;
}

export interface ContextOptions {
  clock?: Clock;
  log?: Logger;
  transport?: MailTransport;
  sms?: SmsTransport;
  hashParams?: HashParams;
  /** Start the outbox worker's timer (the server does; tests and the CLI deliver explicitly). */
  startWorker?: boolean;
  outboxPollMs?: number;
}

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logLevel,
    // Belt and braces: these keys never reach a log line even if someone logs a whole object.
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'code', '*.code', 'req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'],
      censor: '[redacted]',
    },
  });
}

export async function createContext(config: Config, options: ContextOptions = {}): Promise<Context> {
  const log = options.log ?? createLogger(config);
  const clock = options.clock ?? systemClock;
  const { db, engine } = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await migrate(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const transport = options.transport
    ?? (config.smtpUrl ? smtpTransport(config.smtpUrl) : devMailboxTransport(db, clock));
  const sms = options.sms
    ?? (config.smsUrl ? httpSmsGateway(config.smsUrl, config.smsToken) : config.devSms ? devSmsTransport(db, clock) : undefined);
  const outbox = new OutboxWorker(db, transport, clock, config.mailFrom, log, options.outboxPollMs, sms);
  if (options.startWorker) outbox.start();
  const hasher = new PasswordHasher(options.hashParams, config.hashConcurrency, config.hashQueue);
  return {
    config,
    db,
    engine,
    clock,
    hasher,
    commonPasswords: loadCommonPasswords(),
    outbox,
    transport,
    log,
    brand: {
      portalName: config.portalName,
      supportEmail: config.supportEmail,
      supportPhone: config.supportPhone,
      publicUrl: config.publicUrl,
    },
    async close() {
      await outbox.stop();
      await transport.close();
      await db.destroy();
    },
  };
}
