// Helpers shared by the flow tests of test/flows (not a test file itself).
import http from 'node:http';
import { expect } from 'vitest';
import { captchaFields } from '../support/captcha.ts';
import { decodeEntities, type WebClient, type WebResponse } from '../support/http.ts';
import type { Portal } from '../support/portal.ts';
import type { Mail } from '../support/smtp.ts';

export const SESSION_COOKIE = '__Host-sesame';
export const PUBLIC_URL = 'https://portail.test.example';
export const PORTAL_NAME = 'Portail Test';
export const SUPPORT_EMAIL = 'support@test.example';
export const SUPPORT_PHONE = '01 23 45 67 89';
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** What a reader sees: tags dropped, entities decoded, white space collapsed. */
export function visible(html: string): string {
  return decodeEntities(html.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
}

/** The error messages listed in the page's error summary. */
export function errorSummary(html: string): string[] {
  const box = /<div class="alert alert-error" role="alert" id="erreurs">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
  return [...box.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => visible(m[1] ?? ''));
}

/** Labels of the page's form fields, in order. */
export function labels(html: string): string[] {
  return [...html.matchAll(/<label for="[^"]*">([\s\S]*?)<\/label>/g)].map((m) => visible(m[1] ?? '').replace(/\s*\*$/, ''));
}

export async function signIn(client: WebClient, login: string, password: string): Promise<WebResponse> {
  return client.submit('/connexion', { identifiant: login, mot_de_passe: password });
}

/** True when the client's session opens « Mon compte ». */
export async function signedIn(client: WebClient): Promise<boolean> {
  const res = await client.get('/compte');
  if (res.status === 200) return true;
  expect(res.status).toBe(303);
  return false;
}

/** GET the form, answer its captcha, POST it with the page's CSRF token. */
async function submitCaptchaForm(client: WebClient, path: string, fields: Record<string, string>): Promise<WebResponse> {
  const page = await client.get(path);
  expect(page.status).toBe(200);
  const answer = await captchaFields(page.text);
  return client.post(path, { ...answer, ...fields, _csrf: client.csrf(page.text) });
}

export function forgotPassword(client: WebClient, identifier: string): Promise<WebResponse> {
  return submitCaptchaForm(client, '/mot-de-passe-oublie', { identifiant: identifier });
}

export function forgotIdentifier(client: WebClient, email: string): Promise<WebResponse> {
  return submitCaptchaForm(client, '/identifiant-oublie', { email });
}

/** The reset link of a mail: the « Valider » button of the HTML part, the same URL in the text part. */
export function resetLinkOf(mail: Mail): { url: string; path: string; token: string } {
  const href = /<a href="([^"]+)"[^>]*>Valider<\/a>/.exec(mail.html)?.[1];
  if (!href) throw new Error(`no « Valider » link in:\n${mail.html}`);
  const url = decodeEntities(href);
  expect(mail.text).toContain(`Valider : ${url}`);
  const parsed = new URL(url);
  const token = /^\/reinitialisation\/([A-Za-z0-9_-]{43})$/.exec(parsed.pathname)?.[1];
  if (!token) throw new Error(`unexpected reset link ${url}`);
  return { url, path: parsed.pathname, token };
}

/** Asks for a reset link for that account and returns the link of the mail that arrives. */
export async function requestResetLink(portal: Portal, client: WebClient, login: string, email: string) {
  const before = portal.smtp.messages.length;
  const res = await forgotPassword(client, login);
  expect(res.status).toBe(200);
  await portal.deliver();
  const mail = await portal.smtp.waitFor((m) => portal.smtp.messages.indexOf(m) >= before && m.to.includes(email) && /demande de changement de mot de passe/.test(m.subject));
  return resetLinkOf(mail);
}

/** Mails received by that address so far. */
export function mailsTo(portal: Portal, email: string): Mail[] {
  return portal.smtp.messages.filter((m) => m.to.includes(email));
}

/** A request with whatever headers the test wants, Host included (fetch would drop a forged Host). */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string; headers: http.IncomingHttpHeaders }> {
  const url = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Audit rows of one user, oldest first. */
export async function auditOf(portal: Portal, userId: string) {
  return portal.ctx.db.selectFrom('audit_events').selectAll().where('user_id', '=', userId).orderBy('id').execute();
}

/** Delivers the outbox, then waits for a mail received after `since` (an index in smtp.messages). */
export async function mailSince(portal: Portal, since: number, to: string, subject: RegExp): Promise<Mail> {
  await portal.deliver();
  return portal.smtp.waitFor((m) => portal.smtp.messages.indexOf(m) >= since && m.to.includes(to) && subject.test(m.subject));
}

export const CONFIRMATION_SENTENCE = `Votre changement de mot de passe a bien été pris en compte. Si vous n'avez pas effectué ce changement, merci de contacter le support technique de ${'Portail Test'} au ${'01 23 45 67 89'}.`;

/** A portal start (PGlite's initdb above all) can take long on a loaded machine. */
export const PORTAL_START_TIMEOUT = 180_000;
