// Answering the « Code à recopier » of a page in tests (see src/security/captcha.ts).
//
// captchaFields(html) does what a browser with JavaScript does, from the page alone: in mode pow it
// solves the proof of work for real with altcha-lib's solver (as /assets/captcha.js does); in mode image
// (no proof of work) it answers the sum, as a person reading the question would. No secret is read.
// Merge the result into the form post: `client.submit(path, { identifiant, ...await captchaFields(page.text) })`.
// Challenges are stateless and not tied to the page's CSRF token, so fields taken from one GET can be
// posted with the token of another; each challenge is accepted once.

import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/sha';
import { CAPTCHA_FIELDS, CAPTCHA_SECRET_KEY, imageCodeWithSecret } from '../../src/security/captcha.ts';
import { decodeEntities } from './http.ts';
import type { Portal } from './portal.ts';

interface PageCaptcha {
  mode: 'pow' | 'image';
  token: string;
  challenge: Challenge | null;
  question: string;
}

function attribute(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return m ? decodeEntities(m[1]!) : undefined;
}

/** The captcha block of a page, or null if the page has none. */
export function readCaptcha(pageHtml: string): PageCaptcha | null {
  const open = /<(?:div|fieldset)\b[^>]*\sdata-captcha="(pow|image)"[^>]*>/.exec(pageHtml);
  if (!open) return null;
  const mode = open[1] as 'pow' | 'image';
  const tokenTag = new RegExp(`<input\\b[^>]*\\sname="${CAPTCHA_FIELDS.token}"[^>]*>`).exec(pageHtml);
  const token = tokenTag ? attribute(tokenTag[0], 'value') ?? '' : '';
  const challengeJson = attribute(open[0], 'data-challenge');
  const label = /<label for="captcha(?:-question)?">([^<]*(?:\+)[^<]*)</.exec(pageHtml);
  return {
    mode,
    token,
    challenge: challengeJson ? JSON.parse(challengeJson) as Challenge : null,
    question: label ? decodeEntities(label[1]!) : '',
  };
}

/** Solves an ALTCHA challenge as the page's script does; returns the value of the proof field. */
export async function solveProof(challenge: Challenge): Promise<string> {
  const solution = await solveChallenge({ challenge, deriveKey, timeout: 20_000 });
  if (!solution) throw new Error('captcha: the proof of work was not solved in time');
  return Buffer.from(JSON.stringify({ challenge, solution })).toString('base64');
}

/** Fields that answer the captcha of a page, as a browser with JavaScript would. {} if the page has none. */
export async function captchaFields(pageHtml: string): Promise<Record<string, string>> {
  const captcha = readCaptcha(pageHtml);
  if (!captcha) return {};
  if (captcha.mode === 'pow' && captcha.challenge) {
    return { [CAPTCHA_FIELDS.token]: captcha.token, [CAPTCHA_FIELDS.proof]: await solveProof(captcha.challenge) };
  }
  return captchaTextAnswer(pageHtml);
}

/** The sum asked by the page (« combien font 12 + 5 ? »), answered as a person would: the no-JS path. */
export function captchaTextAnswer(pageHtml: string): Record<string, string> {
  const captcha = readCaptcha(pageHtml);
  if (!captcha) throw new Error('captcha: no captcha in page');
  const m = /(\d+)\s*\+\s*(\d+)/.exec(captcha.question);
  if (!m) throw new Error(`captcha: no question in «${captcha.question}»`);
  return { [CAPTCHA_FIELDS.token]: captcha.token, [CAPTCHA_FIELDS.answer]: String(Number(m[1]) + Number(m[2])) };
}

/**
 * Test-only oracle: the code drawn in the image of the page (mode image), computed with the server's
 * secret read from the portal's database. A real client can only read the image.
 */
export async function captchaImageCode(portal: Portal, pageHtml: string): Promise<Record<string, string>> {
  const captcha = readCaptcha(pageHtml);
  if (!captcha) throw new Error('captcha: no captcha in page');
  const row = await portal.ctx.db.selectFrom('settings').select('value').where('key', '=', CAPTCHA_SECRET_KEY).executeTakeFirstOrThrow();
  const code = imageCodeWithSecret(row.value, captcha.token);
  if (!code) throw new Error('captcha: malformed token');
  return { [CAPTCHA_FIELDS.token]: captcha.token, [CAPTCHA_FIELDS.code]: code };
}
