import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../domain/clock.ts';
import { addMs } from '../domain/clock.ts';
import type { Database } from '../store/schema.ts';
import type { Db } from '../store/database.ts';
import type { RenderedMail } from './render.ts';
import type { SmsTransport } from './sms.ts';
import type { MailTransport } from './transport.ts';

/**
 * The outbox: a mail is a row written in the same transaction as the change it announces, so a crash
 * can lose neither. A worker delivers due rows, claiming each with a lease so that several instances
 * never send the same mail twice at once, and retries with exponential back-off.
 */
export const LEASE_MS = 2 * 60_000;
export const MAX_ATTEMPTS = 12;

export function retryDelayMs(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 3_600_000);
}

/** Returns the outbox row's id, so that a caller can later tell whether that message left. */
export async function enqueueMail(trx: Kysely<Database>, to: string, mail: RenderedMail, now: Date): Promise<string> {
  const row = await trx.insertInto('outbox').values({
    channel: 'mail',
    recipient: to,
    subject: mail.subject,
    body_text: mail.text,
    body_html: mail.html,
    created_at: now,
    next_attempt_at: now,
  }).returning('id').executeTakeFirstOrThrow();
  return String(row.id);
}

export async function enqueueSms(trx: Kysely<Database>, to: string, text: string, now: Date): Promise<string> {
  const row = await trx.insertInto('outbox').values({
    channel: 'sms',
    recipient: to,
    subject: 'SMS',
    body_text: text,
    body_html: null,
    created_at: now,
    next_attempt_at: now,
  }).returning('id').executeTakeFirstOrThrow();
  return String(row.id);
}

export interface DeliveryReport {
  sent: number;
  failed: number;
}

export class OutboxWorker {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<DeliveryReport> | undefined;
  #stopped = false;

  constructor(
    private readonly db: Db,
    private readonly transport: MailTransport,
    private readonly clock: Clock,
    private readonly from: string,
    private readonly log: Logger,
    private readonly pollMs = 5_000,
    private readonly sms?: SmsTransport,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Called after a commit that enqueued mail: deliver now rather than at the next poll. */
  wake(): void {
    if (!this.#stopped && this.#timer) this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.deliverDue()
        .catch((err) => this.log.error({ err }, 'outbox: delivery round failed'))
        .finally(() => {
          if (!this.#stopped) this.#schedule(this.pollMs);
        });
    }, ms);
    this.#timer.unref();
  }

  /** Delivers every due mail once; rounds never overlap. Tests call it directly. */
  deliverDue(): Promise<DeliveryReport> {
    if (!this.#running) {
      this.#running = this.#deliver().finally(() => (this.#running = undefined));
    }
    return this.#running;
  }

  async #deliver(): Promise<DeliveryReport> {
    const report = { sent: 0, failed: 0 };
    for (;;) {
      const batch = await this.#claim(10);
      if (batch.length === 0) return report;
      for (const row of batch) {
        try {
          if (row.channel === 'sms') {
            if (!this.sms) throw new Error('no SMS gateway configured');
            await this.sms.send(row.recipient, row.body_text ?? '');
          } else {
            await this.transport.send({
              to: row.recipient,
              from: this.from,
              subject: row.subject,
              text: row.body_text ?? '',
              html: row.body_html ?? '',
            });
          }
          await this.db.updateTable('outbox')
            .set({ sent_at: this.clock.now(), body_text: null, body_html: null, last_error: null })
            .where('id', '=', row.id).execute();
          report.sent++;
        } catch (err) {
          const message = err instanceof Error ? err.message.slice(0, 500) : String(err);
          const giveUp = row.attempts >= MAX_ATTEMPTS;
          await this.db.updateTable('outbox')
            .set({
              last_error: message,
              next_attempt_at: giveUp ? new Date('9999-12-31T00:00:00Z') : addMs(this.clock.now(), retryDelayMs(row.attempts)),
            })
            .where('id', '=', row.id).execute();
          report.failed++;
          this.log.warn({ outboxId: String(row.id), attempts: row.attempts, error: message, giveUp }, 'outbox: delivery failed');
        }
      }
    }
  }

  /** Takes up to n due rows and pushes their next attempt past a lease, in one short transaction. */
  async #claim(n: number) {
    const now = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('outbox')
        .select(['id', 'channel', 'recipient', 'subject', 'body_text', 'body_html', 'attempts'])
        .where('sent_at', 'is', null)
        .where('next_attempt_at', '<=', now)
        .orderBy('id')
        .limit(n)
        .forUpdate()
        .skipLocked()
        .execute();
      if (rows.length === 0) return [];
      await trx.updateTable('outbox')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), next_attempt_at: addMs(now, LEASE_MS) }))
        .where('id', 'in', rows.map((r) => r.id))
        .execute();
      return rows.map((r) => ({ ...r, attempts: r.attempts + 1 }));
    });
  }

  async pending(): Promise<number> {
    const row = await this.db.selectFrom('outbox').select((eb) => eb.fn.countAll<string>().as('n'))
      .where('sent_at', 'is', null).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
