import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { Branding, MailContent } from './mails.ts';

const eta = new Eta({ views: fileURLToPath(new URL('./templates', import.meta.url)), autoEscape: true, cache: true });

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export function renderMail(mail: MailContent, brand: Branding): RenderedMail {
  const html = eta.render('mail', { mail, brand });
  const lines: string[] = [mail.greeting, '', ...mail.paragraphs.flatMap((p) => [p, ''])];
  if (mail.highlight) lines.push(`${mail.highlight.label} : ${mail.highlight.value}`, '');
  if (mail.action) lines.push(`${mail.action.label} : ${mail.action.url}`, '');
  for (const p of mail.after ?? []) lines.push(p, '');
  lines.push('Cordialement,', brand.portalName, `Mail : ${brand.supportEmail}`);
  if (brand.supportPhone) lines.push(`Tél : ${brand.supportPhone}`);
  return { subject: mail.subject, text: lines.join('\n') + '\n', html };
}
