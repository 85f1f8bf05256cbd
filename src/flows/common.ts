import type { Kysely } from 'kysely';
import type { Context } from '../context.ts';
import type { MailContent } from '../notify/mails.ts';
import { enqueueMail } from '../notify/outbox.ts';
import { renderMail } from '../notify/render.ts';
import type { Database } from '../store/schema.ts';

/** A problem with one field of a form: `code` names the rule, the web layer words it. */
export interface FieldError {
  field: string;
  code: string;
  /** Values the message needs beyond the field's label (attempts left, say). */
  vars?: Record<string, string | number>;
}

export type Outcome<T> = ({ ok: true } & T) | { ok: false; errors: FieldError[] };

/** Transactions that wrote to the outbox: only those wake the worker (a sign-in queues no mail). */
const queuedMail = new WeakSet<object>();

/** Writes a mail to the outbox inside the caller's transaction. */
export async function queueMail(ctx: Context, trx: Kysely<Database>, to: string, mail: MailContent, now: Date): Promise<void> {
  await enqueueMail(trx, to, renderMail(mail, ctx.brand), now);
  queuedMail.add(trx);
}

/** Runs a flow's single transaction, then lets the outbox worker know when it queued mail to deliver. */
export async function inTransaction<T>(ctx: Context, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  let queued = false;
  const result = await ctx.db.transaction().execute(async (trx) => {
    const value = await work(trx);
    queued = queuedMail.has(trx);
    return value;
  });
  // Waking costs a delivery round (a transaction with a SELECT … FOR UPDATE): not for nothing.
  if (queued) ctx.outbox.wake();
  return result;
}
