// A real SMTP server on loopback that keeps every message it receives, parsed.

import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerError } from 'smtp-server';

export interface Mail {
  /** Envelope recipients (RCPT TO addresses). */
  to: string[];
  /** The From header as text, e.g. `Sésame <no-reply@example.org>` (envelope sender if absent). */
  from: string;
  /** Envelope sender (MAIL FROM address). */
  envelopeFrom: string;
  subject: string;
  text: string;
  html: string;
  date: Date;
  messageId: string;
  /** The message as received (headers + body). */
  raw: string;
}

export interface SmtpSinkOptions {
  /** Reject the first n messages with a 451 temporary error. */
  failNext?: number;
}

export interface SmtpSink {
  /** smtp://127.0.0.1:PORT */
  url: string;
  host: string;
  port: number;
  /** Every message accepted so far, in arrival order. */
  messages: Mail[];
  /** Resolves with the first received message (already or later) matching predicate. */
  waitFor(predicate?: (mail: Mail) => boolean, timeoutMs?: number): Promise<Mail>;
  /** Forgets the received messages. */
  clear(): void;
  /** Rejects the next n messages with `451` (a temporary failure). */
  failNext(n: number): void;
  /** How many messages were rejected by failNext so far. */
  readonly rejected: number;
  close(): Promise<void>;
}

interface Waiter {
  predicate: (mail: Mail) => boolean;
  resolve: (mail: Mail) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const messages: Mail[] = [];
  const waiters = new Set<Waiter>();
  let toFail = options.failNext ?? 0;
  let rejected = 0;

  const deliver = (mail: Mail) => {
    messages.push(mail);
    for (const w of waiters) {
      if (w.predicate(mail)) {
        waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve(mail);
      }
    }
  };

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    banner: 'Sésame test SMTP sink',
    closeTimeout: 1000,
    disableReverseLookup: true,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        if (toFail > 0) {
          toFail--;
          rejected++;
          const err: SMTPServerError = new Error('Temporary failure requested by the test (failNext)');
          err.responseCode = 451;
          callback(err);
          return;
        }
        const raw = Buffer.concat(chunks);
        simpleParser(raw).then(
          (parsed) => {
            const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
            deliver({
              to: session.envelope.rcptTo.map((r) => r.address),
              from: parsed.from?.text ?? envelopeFrom,
              envelopeFrom,
              subject: parsed.subject ?? '',
              text: parsed.text ?? '',
              html: typeof parsed.html === 'string' ? parsed.html : '',
              date: parsed.date ?? new Date(),
              messageId: parsed.messageId ?? '',
              raw: raw.toString('utf8'),
            });
            callback();
          },
          (err: unknown) => {
            const e: SMTPServerError = new Error(`Could not parse message: ${String(err)}`);
            e.responseCode = 554;
            callback(e);
          },
        );
      });
    },
  });
  server.on('error', () => {
    // Per-connection errors (client resets, ...) are not the sink's concern.
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;

  let closed: Promise<void> | undefined;
  return {
    url: `smtp://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    messages,
    get rejected() {
      return rejected;
    },
    waitFor(predicate = () => true, timeoutMs = 5000) {
      const already = messages.find(predicate);
      if (already) return Promise.resolve(already);
      return new Promise<Mail>((resolve, reject) => {
        const waiter: Waiter = {
          predicate,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            const got = messages.length
              ? messages.map((m) => `"${m.subject}" to ${m.to.join(', ')}`).join('; ')
              : 'none';
            reject(new Error(`SMTP sink: no matching mail within ${timeoutMs} ms. Received (${messages.length}): ${got}`));
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    clear() {
      messages.length = 0;
    },
    failNext(n: number) {
      toFail = n;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const w of waiters) {
          clearTimeout(w.timer);
          w.reject(new Error('SMTP sink closed while waiting for a mail'));
        }
        waiters.clear();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
