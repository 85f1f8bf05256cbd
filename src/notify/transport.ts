import nodemailer from 'nodemailer';
import type { Db } from '../store/database.ts';
import type { Clock } from '../domain/clock.ts';

export interface OutgoingMail {
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
}

/** Where mails leave the building: an SMTP server, or the development mailbox page. */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>;
  close(): Promise<void>;
}

/** SMTP with STARTTLS whenever the server offers it (nodemailer's default for smtp://). */
export function smtpTransport(url: string): MailTransport {
  const transporter = nodemailer.createTransport(url);
  return {
    async send(mail) {
      await transporter.sendMail(mail);
    },
    async close() {
      transporter.close();
    },
  };
}

/** Keeps mails in a table that /dev/boite-mail shows; only when no SMTP server is set and not in production. */
export function devMailboxTransport(db: Db, clock: Clock): MailTransport {
  return {
    async send(mail) {
      await db.insertInto('dev_mailbox').values({
        at: clock.now(),
        recipient: mail.to,
        sender: mail.from,
        subject: mail.subject,
        body_text: mail.text,
        body_html: mail.html,
      }).execute();
    },
    async close() {},
  };
}
