import type { Db } from '../store/database.ts';
import type { Clock } from '../domain/clock.ts';

/** Where SMS leave: an HTTP gateway, or the development mailbox page. */
export interface SmsTransport {
  send(to: string, text: string): Promise<void>;
}

export class SmsGatewayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SmsGatewayError';
  }
}

/**
 * The gateway contract: POST JSON {"to": "+33…", "text": "…"}, with a bearer token when one is set.
 * Any answer but 2xx is a failure, retried by the outbox.
 */
export function httpSmsGateway(url: string, token: string | undefined, timeoutMs = 10_000): SmsTransport {
  return {
    async send(to, text) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ to, text }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw new SmsGatewayError(`passerelle SMS injoignable : ${(err as Error).message}`);
      }
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new SmsGatewayError(`passerelle SMS : réponse ${res.status}`);
    },
  };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** In development, an SMS is shown in the mailbox page like a mail, its subject saying it is an SMS. */
export function devSmsTransport(db: Db, clock: Clock): SmsTransport {
  return {
    async send(to, text) {
      await db.insertInto('dev_mailbox').values({
        at: clock.now(),
        recipient: to,
        sender: 'SMS',
        subject: `SMS : ${text.slice(0, 60)}`,
        body_text: text,
        body_html: `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>SMS</title></head><body><p><strong>SMS pour ${escapeHtml(to)}</strong></p><p>${escapeHtml(text)}</p></body></html>`,
      }).execute();
    },
  };
}
