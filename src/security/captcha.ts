import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createChallenge, randomInt, verifySolution, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/sha';
import type { Config } from '../config.ts';
import type { Clock } from '../domain/clock.ts';
import type { Db } from '../store/database.ts';
import { cachedSecret } from '../store/secrets.ts';
import type { Lang } from '../web/i18n.ts';

/**
 * The « Code à recopier » of the forgotten-password and forgotten-identifier forms: a self-hosted
 * challenge, no third party.
 *
 * - mode `pow` (default): the page carries an ALTCHA v2 proof-of-work challenge (SHA-256, deterministic
 *   counter drawn in [difficulty / 2, difficulty]) that /assets/captcha.js solves by itself; without
 *   JavaScript, or if the browser cannot solve it, a simple sum to answer (« combien font 12 + 5 ? »).
 * - mode `image`: an SVG image of a short code (GET /captcha/image/<token>.svg), with the same sum as
 *   the alternative for people who cannot see the image.
 *
 * Stateless: every challenge is a signed token `id.expiry.hmac`; the sum and the image code are derived
 * from the id with the secret (settings 'captcha.secret'), so no expected answer ever reaches the page.
 * Single use: a challenge that passes is recorded in `captcha_spent` and refused afterwards; a sum or a
 * code that was checked (right or wrong) is spent too, so guesses cost a new page each.
 */
export interface CaptchaService {
  /** Data for views/partials/captcha.eta, exposed to it as `it.captcha`. */
  prepare(lang: Lang): Promise<Record<string, unknown>>;
  /** Checks the submitted form; a solved challenge is accepted once only. */
  verify(form: Record<string, unknown>): Promise<boolean>;
  /** A fresh proof-of-work challenge for GET /captcha/defi; null when the mode has none. */
  challenge?(): Promise<Challenge | null>;
  /** The SVG of an image challenge for GET /captcha/image/<token>.svg; null if unknown or expired. */
  image?(token: string): Promise<string | null>;
}

/** Names of the form fields the partial renders. */
export const CAPTCHA_FIELDS = {
  /** The signed challenge token (hidden). */
  token: 'captcha_defi',
  /** The proof of work, base64 of JSON { challenge, solution } as ALTCHA payloads (hidden, filled by the script). */
  proof: 'captcha_preuve',
  /** The answer to the sum. */
  answer: 'captcha_reponse',
  /** The code read in the image (mode image). */
  code: 'captcha_code',
} as const;

export const CAPTCHA_TTL_MS = 10 * 60_000;
export const CAPTCHA_SECRET_KEY = 'captcha.secret';
export const POW_ALGORITHM = 'SHA-256';
/** No 0/O, 1/I/L, B, D, G, S, Z, Q, V: nothing two readers could read differently. */
export const IMAGE_ALPHABET = '2345679ACEFHKMNPRTUWXY';
export const IMAGE_CODE_LENGTH = 5;

const TOKEN_RE = /^([A-Za-z0-9_-]{22})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/;
const MAX_PROOF_LENGTH = 4096;

interface Keys {
  token: Buffer;
  question: Buffer;
  image: Buffer;
  compare: Buffer;
  powSignature: string;
  powKey: string;
}

function subKey(master: Buffer, label: string): Buffer {
  return createHmac('sha256', master).update(`sesame-captcha|${label}`).digest();
}

function deriveKeys(masterHex: string): Keys {
  const master = Buffer.from(masterHex, 'hex');
  return {
    token: subKey(master, 'token'),
    question: subKey(master, 'question'),
    image: subKey(master, 'image'),
    compare: subKey(master, 'compare'),
    powSignature: subKey(master, 'pow-signature').toString('hex'),
    powKey: subKey(master, 'pow-key').toString('hex'),
  };
}

/** The sum asked for challenge `id`: a in 10..40, b in 2..9. */
export function deriveQuestion(keys: Pick<Keys, 'question'>, id: string): { a: number; b: number } {
  const h = createHmac('sha256', keys.question).update(id).digest();
  return { a: 10 + (h.readUInt16BE(0) % 31), b: 2 + (h.readUInt16BE(2) % 8) };
}

/** The code shown in the image of challenge `id`. */
export function deriveImageCode(keys: Pick<Keys, 'image'>, id: string): string {
  const h = createHmac('sha256', keys.image).update(`code|${id}`).digest();
  let code = '';
  for (let i = 0; i < IMAGE_CODE_LENGTH; i++) code += IMAGE_ALPHABET[h.readUInt16BE(2 * i) % IMAGE_ALPHABET.length];
  return code;
}

/**
 * Test-only oracle: the code of an image challenge, read with the server's secret. The portal never
 * calls this; test/support/captcha.ts uses it to check the image path end to end.
 */
export function imageCodeWithSecret(masterHex: string, token: string): string | null {
  const m = TOKEN_RE.exec(token);
  return m ? deriveImageCode(deriveKeys(masterHex), m[1]!) : null;
}

/** What people type: « 17 », « 17. », «  1 7 », full-width digits. */
function normalizeAnswer(value: string): string {
  return value.normalize('NFKC').replace(/[\s.]/g, '');
}

/** Codes are compared without case, spaces or dashes. */
function normalizeCode(value: string): string {
  return value.normalize('NFKC').replace(/[\s-]/g, '').toUpperCase();
}

function text(form: Record<string, unknown>, name: string, max: number): string {
  const value = form[name];
  return typeof value === 'string' && value.length <= max ? value : '';
}

/** Constant-time equality of two strings of any length (compared through their HMACs). */
function sameSecret(key: Buffer, a: string, b: string): boolean {
  const ha = createHmac('sha256', key).update(a).digest();
  const hb = createHmac('sha256', key).update(b).digest();
  return timingSafeEqual(ha, hb);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function createCaptcha(config: Config, db: Db, clock: Clock): CaptchaService {
  const mode = config.captcha;
  const difficulty = config.captchaDifficulty;
  let lastPurge = 0;

  const secret = cachedSecret(db, CAPTCHA_SECRET_KEY);
  const keys = async (): Promise<Keys> => deriveKeys(await secret());

  const sign = (k: Keys, id: string, exp: number) =>
    createHmac('sha256', k.token).update(`defi|${mode}|${id}|${exp}`).digest('base64url');

  /** id and expiry of a token this portal signed and that has not expired; null otherwise. */
  const openToken = (k: Keys, token: string): { id: string; exp: number } | null => {
    const m = TOKEN_RE.exec(token);
    if (!m) return null;
    const id = m[1]!;
    const exp = Number(m[2]);
    const expected = Buffer.from(sign(k, id, exp), 'base64url');
    const given = Buffer.from(m[3]!, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return exp > clock.now().getTime() ? { id, exp } : null;
  };

  /** Records the challenge as used; false if it already was. */
  const spend = async (id: string, exp: number): Promise<boolean> => {
    const now = clock.now();
    if (now.getTime() - lastPurge > 60_000) {
      lastPurge = now.getTime();
      await db.deleteFrom('captcha_spent').where('expires_at', '<', now).execute();
    }
    const inserted = await db.insertInto('captcha_spent')
      .values({ id, expires_at: new Date(exp) })
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted !== undefined;
  };

  const powChallenge = async (k: Keys, id: string, exp: number): Promise<Challenge> => createChallenge({
    algorithm: POW_ALGORITHM,
    cost: 1,
    counter: randomInt(difficulty, Math.ceil(difficulty / 2)),
    deriveKey,
    // Expiry is checked against the portal's clock, not by altcha-lib (which reads Date.now()).
    data: { id, exp },
    hmacSignatureSecret: k.powSignature,
    hmacKeySignatureSecret: k.powKey,
  });

  const newChallenge = (k: Keys) => {
    const id = randomBytes(16).toString('base64url');
    const exp = clock.now().getTime() + CAPTCHA_TTL_MS;
    return { id, exp, token: `${id}.${exp}.${sign(k, id, exp)}` };
  };

  const verifyProof = async (k: Keys, proof: string): Promise<boolean> => {
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(proof, 'base64').toString('utf8'));
    } catch {
      return false;
    }
    if (!isRecord(payload) || !isRecord(payload.challenge) || !isRecord(payload.solution)) return false;
    const challenge = payload.challenge;
    const parameters = challenge.parameters;
    if (!isRecord(parameters) || typeof challenge.signature !== 'string' || parameters.algorithm !== POW_ALGORITHM) return false;
    const data = parameters.data;
    if (!isRecord(data) || typeof data.id !== 'string' || typeof data.exp !== 'number') return false;
    const { counter, derivedKey } = payload.solution;
    if (typeof counter !== 'number' || typeof derivedKey !== 'string') return false;
    let result;
    try {
      result = await verifySolution({
        challenge: { parameters: parameters as unknown as Challenge['parameters'], signature: challenge.signature },
        solution: { counter, derivedKey },
        deriveKey,
        hmacSignatureSecret: k.powSignature,
        hmacKeySignatureSecret: k.powKey,
      });
    } catch {
      return false;
    }
    // data is covered by the signature: id and exp are the portal's own.
    if (!result.verified || data.exp <= clock.now().getTime()) return false;
    return spend(data.id, data.exp);
  };

  const verifyAnswers = async (k: Keys, form: Record<string, unknown>): Promise<boolean> => {
    const answer = normalizeAnswer(text(form, CAPTCHA_FIELDS.answer, 64));
    const code = mode === 'image' ? normalizeCode(text(form, CAPTCHA_FIELDS.code, 64)) : '';
    if (!answer && !code) return false;
    const opened = openToken(k, text(form, CAPTCHA_FIELDS.token, 200));
    if (!opened) return false;
    const { a, b } = deriveQuestion(k, opened.id);
    let right = false;
    if (answer && sameSecret(k.compare, answer, String(a + b))) right = true;
    if (code && sameSecret(k.compare, code, deriveImageCode(k, opened.id))) right = true;
    // One attempt per challenge, right or wrong: guessing the sum costs a new page each time.
    const fresh = await spend(opened.id, opened.exp);
    return right && fresh;
  };

  return {
    async prepare(_lang: Lang) {
      const k = await keys();
      const { id, exp, token } = newChallenge(k);
      const question = deriveQuestion(k, id);
      if (mode === 'image') {
        return { mode, token, question, imageUrl: `/captcha/image/${token}.svg`, codeLength: IMAGE_CODE_LENGTH, fields: CAPTCHA_FIELDS };
      }
      const challenge = await powChallenge(k, id, exp);
      return {
        mode, token, question, challenge: JSON.stringify(challenge), challengeUrl: '/captcha/defi', ttlMs: CAPTCHA_TTL_MS, fields: CAPTCHA_FIELDS,
      };
    },

    async verify(form: Record<string, unknown>) {
      if (!isRecord(form)) return false;
      const k = await keys();
      const proof = mode === 'pow' ? text(form, CAPTCHA_FIELDS.proof, MAX_PROOF_LENGTH) : '';
      if (proof && await verifyProof(k, proof)) return true;
      return verifyAnswers(k, form);
    },

    async challenge() {
      if (mode !== 'pow') return null;
      const k = await keys();
      const { id, exp } = newChallenge(k);
      return powChallenge(k, id, exp);
    },

    async image(token: string) {
      if (mode !== 'image') return null;
      const k = await keys();
      const opened = openToken(k, token);
      if (!opened) return null;
      const seed = createHmac('sha256', k.image).update(`noise|${opened.id}`).digest();
      return renderCodeSvg(deriveImageCode(k, opened.id), seed);
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// The image: hand-drawn stroke glyphs on a 4 × 6 grid, each jittered, rotated, sheared and scaled, over
// and under noise curves. Only paths: no <text> a parser could read, no font, no canvas.

type Stroke = [number, number][];
const GLYPHS: Record<string, Stroke[]> = {
  '2': [[[0, 1.4], [0.9, 0.2], [3, 0.1], [4, 1.2], [3.9, 2.4], [0, 6], [4, 6]]],
  '3': [[[0, 0.3], [4, 0.3], [1.8, 2.6], [3.3, 2.9], [4, 4.2], [3.4, 5.6], [1.6, 6], [0, 5.2]]],
  '4': [[[3, 6], [3, 0], [0, 4.2], [4.2, 4.2]]],
  '5': [[[4, 0], [0.6, 0], [0.2, 2.7], [2.6, 2.4], [4, 3.4], [4, 5], [3, 6], [1, 6], [0, 5.2]]],
  '6': [[[3.6, 0], [1.4, 0.7], [0.1, 3], [0, 5], [1, 6], [3, 6], [4, 5], [4, 3.8], [3, 3], [1.2, 3], [0.1, 4]]],
  '7': [[[0, 0], [4, 0], [1.6, 6]]],
  '9': [[[4, 2.4], [3, 3.1], [1, 3.1], [0, 2.1], [0, 0.9], [1, 0], [3, 0], [4, 1], [4, 3.6], [3, 5.5], [0.8, 6]]],
  'A': [[[0, 6], [2, 0], [4, 6]], [[0.8, 3.8], [3.2, 3.8]]],
  'C': [[[4, 1], [3, 0], [1, 0], [0, 1.5], [0, 4.5], [1, 6], [3, 6], [4, 5]]],
  'E': [[[4, 0], [0, 0], [0, 6], [4, 6]], [[0, 3], [3, 3]]],
  'F': [[[4, 0], [0, 0], [0, 6]], [[0, 3], [3, 3]]],
  'H': [[[0, 0], [0, 6]], [[4, 0], [4, 6]], [[0, 3], [4, 3]]],
  'K': [[[0, 0], [0, 6]], [[4, 0], [0, 3.6]], [[1.3, 2.5], [4, 6]]],
  'M': [[[0, 6], [0, 0], [2, 3.6], [4, 0], [4, 6]]],
  'N': [[[0, 6], [0, 0], [4, 6], [4, 0]]],
  'P': [[[0, 6], [0, 0], [3, 0], [4, 0.8], [4, 2.4], [3, 3.2], [0, 3.2]]],
  'R': [[[0, 6], [0, 0], [3, 0], [4, 0.8], [4, 2.4], [3, 3.2], [0, 3.2]], [[2, 3.2], [4, 6]]],
  'T': [[[0, 0], [4, 0]], [[2, 0], [2, 6]]],
  'U': [[[0, 0], [0, 4.8], [1, 6], [3, 6], [4, 4.8], [4, 0]]],
  'W': [[[0, 0], [0.9, 6], [2, 2.4], [3.1, 6], [4, 0]]],
  'X': [[[0, 0], [4, 6]], [[4, 0], [0, 6]]],
  'Y': [[[0, 0], [2, 3]], [[4, 0], [2, 3], [2, 6]]],
};

export const IMAGE_WIDTH = 240;
export const IMAGE_HEIGHT = 80;

/** A small deterministic generator (sfc32) seeded from the challenge: the same id draws the same image. */
function generator(seed: Buffer): () => number {
  let a = seed.readUInt32BE(0), b = seed.readUInt32BE(4), c = seed.readUInt32BE(8), d = seed.readUInt32BE(12);
  return () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b | 0) + d | 0;
    d = d + 1 | 0;
    a = b ^ (b >>> 9);
    b = c + (c << 3) | 0;
    c = (c << 21) | (c >>> 11);
    c = c + t | 0;
    return (t >>> 0) / 4294967296;
  };
}

const f = (n: number) => n.toFixed(1);

export function renderCodeSvg(code: string, seed: Buffer): string {
  const rnd = generator(seed);
  const between = (min: number, max: number) => min + (max - min) * rnd();
  const noise: string[] = [];
  const curve = (width: number, color: string) => {
    const y0 = between(10, IMAGE_HEIGHT - 10), y1 = between(10, IMAGE_HEIGHT - 10);
    const c1 = [between(40, 110), between(-20, IMAGE_HEIGHT + 20)], c2 = [between(130, 200), between(-20, IMAGE_HEIGHT + 20)];
    return `<path d="M0 ${f(y0)}C${f(c1[0]!)} ${f(c1[1]!)} ${f(c2[0]!)} ${f(c2[1]!)} ${IMAGE_WIDTH} ${f(y1)}" stroke="${color}" stroke-width="${f(width)}" fill="none"/>`;
  };
  for (let i = 0; i < 4; i++) noise.push(curve(between(1, 2), '#8a94a6'));
  for (let i = 0; i < 18; i++) {
    noise.push(`<circle cx="${f(between(0, IMAGE_WIDTH))}" cy="${f(between(0, IMAGE_HEIGHT))}" r="${f(between(0.8, 2))}" fill="#9aa3b2"/>`);
  }

  const glyphs: string[] = [];
  const slot = (IMAGE_WIDTH - 20) / code.length;
  [...code].forEach((ch, i) => {
    const strokes = GLYPHS[ch] ?? [];
    const scale = between(5.8, 6.8);
    const angle = between(-0.22, 0.22);
    const shear = between(-0.18, 0.18);
    const cx = 10 + slot * (i + 0.5) + between(-2, 2);
    const cy = IMAGE_HEIGHT / 2 + between(-5, 5);
    const cos = Math.cos(angle), sin = Math.sin(angle);
    const d = strokes.map((stroke) => stroke.map(([gx, gy], j) => {
      // Centre the glyph, shear, jitter, scale, rotate, place.
      let x = gx - 2 + shear * (gy - 3) + between(-0.12, 0.12);
      let y = gy - 3 + between(-0.12, 0.12);
      x *= scale; y *= scale;
      return `${j === 0 ? 'M' : 'L'}${f(cx + x * cos - y * sin)} ${f(cy + x * sin + y * cos)}`;
    }).join('')).join('');
    glyphs.push(`<path d="${d}" stroke="#1d3a6e" stroke-width="${f(between(3.2, 4.2))}" stroke-linecap="round" stroke-linejoin="round" fill="none"/>`);
  });
  const over = [curve(1.5, '#3d4a63'), curve(1.2, '#3d4a63')];

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${IMAGE_WIDTH}" height="${IMAGE_HEIGHT}" viewBox="0 0 ${IMAGE_WIDTH} ${IMAGE_HEIGHT}">`
    + `<rect width="${IMAGE_WIDTH}" height="${IMAGE_HEIGHT}" fill="#f4f6fa"/>`
    + noise.join('') + glyphs.join('') + over.join('')
    + '</svg>';
}
