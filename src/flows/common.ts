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
}

export type Outcome<T> = ({ ok: true } & T) | { ok: false; errors: FieldError[] };

/** Writes a mail to the outbox inside the caller's transaction. */
export async function queueMail(ctx: Context, trx: Kysely<Database>, to: string, mail: MailContent, now: Date): Promise<void> {
  await enqueueMail(trx, to, renderMail(mail, ctx.brand), now);
}

/** Runs a flow's single transaction, then lets the outbox worker know there may be mail to deliver. */
export async function inTransaction<T>(ctx: Context, work: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  const result = await ctx.db.transaction().execute(work);
  ctx.outbox.wake();
  return result;
}
