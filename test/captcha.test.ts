import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Challenge } from 'altcha-lib';
import { CAPTCHA_FIELDS, CAPTCHA_SECRET_KEY, CAPTCHA_TTL_MS, createCaptcha } from '../src/security/captcha.ts';
import { captchaFields, captchaImageCode, captchaTextAnswer, readCaptcha, solveProof } from './support/captcha.ts';
import { ENGINES, startPortal, type Portal } from './support/portal.ts';

const DONE = 'Votre demande de changement de mot de passe est prise en compte';
const REFUSED = 'La vérification « Code à recopier » a échoué';

function reencode(proof: string, change: (payload: { challenge: Challenge; solution: { counter: number; derivedKey: string } }) => void): string {
  const payload = JSON.parse(Buffer.from(proof, 'base64').toString('utf8'));
  change(payload);
  return Buffer.from(JSON.stringify(payload)).toString('base64');
}

describe.each(ENGINES)('captcha (pow, default) on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  const page = async (path = '/mot-de-passe-oublie') => {
    const res = await portal.client().get(path);
    expect(res.status).toBe(200);
    return res.text;
  };
  const post = (fields: Record<string, string | string[]>, path = '/mot-de-passe-oublie') =>
    portal.client().submit(path, { identifiant: 'personne', ...fields });

  it('renders a proof-of-work challenge, a status for the script and a question without JavaScript', async () => {
    const html = await page();
    const captcha = readCaptcha(html);
    expect(captcha?.mode).toBe('pow');
    expect(html).toContain('<script src="/assets/captcha.js" defer></script>');
    expect(html).toMatch(/<label for="captcha">Code à recopier : combien font \d+ \+ \d+ \?/);
    expect(html).toMatch(/<input id="captcha" name="captcha_reponse"[^>]*aria-describedby="captcha-aide"/);
    expect(html).toMatch(/role="status" data-captcha-status hidden/);
    // The answer and the solution never travel in clear: a signed token, a keyed challenge.
    const { a, b } = /(?<a>\d+) \+ (?<b>\d+)/.exec(captcha!.question)!.groups!;
    expect(captcha!.token).toMatch(/^[\w-]{22}\.\d+\.[\w-]{43}$/);
    expect(captcha!.token).not.toContain(String(Number(a) + Number(b)) + '.');
    const params = captcha!.challenge!.parameters;
    expect(params.algorithm).toBe('SHA-256');
    expect(params.keySignature).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(captcha!.challenge)).not.toMatch(/counter/);
    const asset = await portal.client().get('/assets/captcha.js');
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
  });

  it('refuses the form without captcha or with a wrong answer, next to the field, in French', async () => {
    for (const fields of [{}, { [CAPTCHA_FIELDS.answer]: '' }] as Record<string, string>[]) {
      const res = await post(fields);
      expect(res.status).toBe(400);
      expect(res.text).toContain(REFUSED);
      expect(res.text).toContain('<a href="#captcha">');
    }
    const html = await page();
    const right = captchaTextAnswer(html);
    const wrong = String(Number(right[CAPTCHA_FIELDS.answer]) + 1);
    const res = await post({ ...right, [CAPTCHA_FIELDS.answer]: wrong });
    expect(res.status).toBe(400);
    expect(res.text).toContain(REFUSED);
    expect(res.text).toContain('<p class="error" id="captcha-erreur-0">');
    expect(res.text).toMatch(/<input id="captcha"[^>]*aria-describedby="captcha-aide captcha-erreur-0" aria-invalid="true" autofocus>/);
    expect(res.text).toContain('data-keep-question');
    expect(res.text).not.toContain(DONE);
  });

  it('accepts a solved proof of work, once', async () => {
    const fields = await captchaFields(await page());
    expect(Object.keys(fields).sort()).toEqual([CAPTCHA_FIELDS.token, CAPTCHA_FIELDS.proof].sort());
    const res = await post(fields);
    expect(res.status).toBe(200);
    expect(res.text).toContain(DONE);
    const replay = await post(fields);
    expect(replay.status).toBe(400);
    expect(replay.text).toContain(REFUSED);
    // Nor can the same challenge pass through its question afterwards.
    const again = await post({ ...captchaTextAnswer(await page()), [CAPTCHA_FIELDS.token]: fields[CAPTCHA_FIELDS.token]! });
    expect(again.status).toBe(400);
  });

  it('accepts the right answer to the question (no JavaScript), once', async () => {
    const fields = captchaTextAnswer(await page());
    const res = await post({ ...fields, [CAPTCHA_FIELDS.answer]: ` ${fields[CAPTCHA_FIELDS.answer]} ` });
    expect(res.status).toBe(200);
    expect(res.text).toContain(DONE);
    expect((await post(fields)).status).toBe(400);
  });

  it('gives one attempt per question: a wrong answer spends it', async () => {
    const fields = captchaTextAnswer(await page());
    expect((await post({ ...fields, [CAPTCHA_FIELDS.answer]: '0' })).status).toBe(400);
    expect((await post(fields)).status).toBe(400);
  });

  it('serves fresh challenges on /captcha/defi, never cached, that pass', async () => {
    const res = await portal.client().get('/captcha/defi', { accept: 'application/json' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const { challenge } = JSON.parse(res.text) as { challenge: Challenge };
    const ok = await post({ [CAPTCHA_FIELDS.proof]: await solveProof(challenge) });
    expect(ok.status).toBe(200);
    expect((await portal.client().get('/captcha/image/abc.svg')).status).toBe(404);
  });

  it('refuses an expired challenge', async () => {
    const html = await page();
    const proof = await captchaFields(html);
    const answer = captchaTextAnswer(html);
    portal.clock.advance(CAPTCHA_TTL_MS + 1000);
    try {
      expect((await post(proof)).status).toBe(400);
      expect((await post(answer)).status).toBe(400);
    } finally {
      // Fresh pages are valid at the new time.
      expect((await post(await captchaFields(await page()))).status).toBe(200);
    }
  });

  it('refuses tampered tokens and challenges', async () => {
    const fields = captchaTextAnswer(await page());
    const token = fields[CAPTCHA_FIELDS.token]!;
    const [id, exp, sig] = token.split('.');
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const forged of [`${id}.${exp}.${flip(sig!)}`, `${flip(id!)}.${exp}.${sig}`, `${id}.${Number(exp) + 600_000}.${sig}`, `${id}.${exp}`]) {
      expect((await post({ ...fields, [CAPTCHA_FIELDS.token]: forged })).status).toBe(400);
    }

    const proof = (await captchaFields(await page()))[CAPTCHA_FIELDS.proof]!;
    const forgedProofs = [
      reencode(proof, (p) => { p.challenge.signature = flip(p.challenge.signature!); }),
      reencode(proof, (p) => { (p.challenge.parameters.data as { exp: number }).exp += 3_600_000; }),
      reencode(proof, (p) => { (p.challenge.parameters.data as { id: string }).id = 'autre'; }),
      reencode(proof, (p) => { p.challenge.parameters.keyPrefix = '00'; }),
      reencode(proof, (p) => { delete p.challenge.parameters.keySignature; }),
      reencode(proof, (p) => { p.solution.derivedKey = p.solution.derivedKey.replace(/^./, (c) => (c === '0' ? '1' : '0')); }),
      reencode(proof, (p) => { p.challenge.parameters.algorithm = 'SHA-1'; }),
    ];
    for (const forged of forgedProofs) {
      expect((await post({ [CAPTCHA_FIELDS.proof]: forged })).status).toBe(400);
    }
    // An unsigned challenge the client made up and solved itself.
    const { createChallenge } = await import('altcha-lib');
    const { deriveKey } = await import('altcha-lib/algorithms/sha');
    const own = await createChallenge({ algorithm: 'SHA-256', cost: 1, counter: 10, deriveKey, data: { id: 'x'.repeat(22), exp: Date.UTC(2100, 0) } });
    expect((await post({ [CAPTCHA_FIELDS.proof]: await solveProof(own) })).status).toBe(400);
    // The genuine proof still passes: none of the above spent it.
    expect((await post({ [CAPTCHA_FIELDS.proof]: proof })).status).toBe(200);
  });

  it('never answers 5xx to garbage', async () => {
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64');
    const garbage: Record<string, string | string[]>[] = [
      { [CAPTCHA_FIELDS.proof]: 'garbage' },
      { [CAPTCHA_FIELDS.proof]: '!!!***' },
      { [CAPTCHA_FIELDS.proof]: b64('null') },
      { [CAPTCHA_FIELDS.proof]: b64('[1,2]') },
      { [CAPTCHA_FIELDS.proof]: b64({ challenge: 1, solution: 2 }) },
      { [CAPTCHA_FIELDS.proof]: b64({ challenge: { parameters: { algorithm: 'SHA-256', data: { id: 1, exp: 'x' } }, signature: 5 }, solution: {} }) },
      { [CAPTCHA_FIELDS.proof]: b64({ challenge: { parameters: { algorithm: 'SHA-256', nonce: 'zz', salt: 'q', keyPrefix: '', data: { id: 'a', exp: 9e15 } }, signature: 'ab' }, solution: { counter: -1, derivedKey: 'zz' } }) },
      { [CAPTCHA_FIELDS.proof]: b64({ challenge: { parameters: { __proto__: { x: 1 }, algorithm: 'SHA-256' } }, solution: { counter: 1e300, derivedKey: '' } }) },
      { [CAPTCHA_FIELDS.proof]: 'A'.repeat(20_000) },
      { [CAPTCHA_FIELDS.proof]: ['a', 'b'], [CAPTCHA_FIELDS.answer]: ['1', '2'], [CAPTCHA_FIELDS.token]: ['x', 'y'] },
      { [CAPTCHA_FIELDS.token]: '.'.repeat(100), [CAPTCHA_FIELDS.answer]: '12' },
      { [CAPTCHA_FIELDS.token]: `${'a'.repeat(22)}.99999999999999999999.${'b'.repeat(43)}`, [CAPTCHA_FIELDS.answer]: '12' },
      { [CAPTCHA_FIELDS.token]: 'x\u0000y', [CAPTCHA_FIELDS.answer]: '\u0000', [CAPTCHA_FIELDS.code]: '💥' },
      { [CAPTCHA_FIELDS.answer]: '1'.repeat(5000) },
    ];
    for (const fields of garbage) {
      const res = await post(fields);
      expect(res.status, JSON.stringify(fields).slice(0, 200)).toBe(400);
      expect(res.text).toContain(REFUSED);
    }
    for (const path of ['/captcha/image/' + 'x'.repeat(150) + '.svg', '/captcha/image/%00.svg', '/captcha/defi?x=1']) {
      expect((await portal.client().get(path)).status).toBeLessThan(500);
    }
  });

  it('protects « Identifiant oublié » the same way', async () => {
    const client = portal.client();
    const refused = await client.submit('/identifiant-oublie', { email: 'personne@test.example' });
    expect(refused.status).toBe(400);
    expect(refused.text).toContain(REFUSED);
    const page2 = await client.get('/identifiant-oublie');
    const ok = await client.submit('/identifiant-oublie', { email: 'personne@test.example', ...await captchaFields(page2.text) });
    expect(ok.status).toBe(200);
  });

  it('speaks English when asked', async () => {
    const res = await portal.client({ headers: { 'accept-language': 'en' } }).get('/mot-de-passe-oublie');
    expect(res.text).toMatch(/<label for="captcha">Code to copy: what is \d+ \+ \d+\?/);
    expect(res.text).toContain('data-msg-done="Anti-robot check passed: there is nothing to do."');
    const ok = await portal.client({ headers: { 'accept-language': 'en' } }).submit('/mot-de-passe-oublie', { identifiant: 'nobody', ...captchaTextAnswer(res.text) });
    expect(ok.status).toBe(200);
  });

  it('keeps one secret in settings that every instance shares', async () => {
    const rows = await portal.ctx.db.selectFrom('settings').selectAll().where('key', '=', CAPTCHA_SECRET_KEY).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.value).toMatch(/^[0-9a-f]{64}$/);
    // A second instance on the same database accepts what the first one issued.
    const other = createCaptcha(portal.config, portal.ctx.db, portal.clock);
    const fields = await captchaFields(await page());
    expect(await other.verify(fields)).toBe(true);
    expect(await other.verify(fields)).toBe(false);
    const issued = await other.prepare('fr');
    expect(typeof issued.token).toBe('string');
    expect((await portal.ctx.db.selectFrom('settings').selectAll().where('key', '=', CAPTCHA_SECRET_KEY).execute())).toHaveLength(1);
  });
});

describe.each(ENGINES)('captcha (image) on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine, { SESAME_CAPTCHA: 'image' }); });
  afterAll(async () => { await portal?.close(); });

  const page = async () => (await portal.client().get('/mot-de-passe-oublie')).text;
  const post = (fields: Record<string, string>) => portal.client().submit('/mot-de-passe-oublie', { identifiant: 'personne', ...fields });

  it('shows an SVG image of the code, with an alt text that does not give it away, and the question', async () => {
    const html = await page();
    expect(readCaptcha(html)?.mode).toBe('image');
    expect(html).not.toContain('/assets/captcha.js');
    const img = /<img class="captcha-img" src="([^"]+)"[^>]*alt="([^"]+)">/.exec(html);
    expect(img).not.toBeNull();
    expect(img![2]).toBe('Code à recopier : image de 5 caractères');
    expect(html).toMatch(/<label for="captcha">Code à recopier<\/label>/);
    expect(html).toMatch(/<label for="captcha-question">Autre possibilité : combien font \d+ \+ \d+ \?<\/label>/);
    expect(html).toContain('Vous ne pouvez pas lire l’image ?');
    const { [CAPTCHA_FIELDS.code]: code } = await captchaImageCode(portal, html);
    expect(html).not.toContain(code);

    const svg = await portal.client().get(img![1]!);
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
    expect(svg.headers.get('cache-control')).toBe('no-store');
    expect(svg.text).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg.text).not.toMatch(/<text|<script|style=|href/);
    expect(svg.text).not.toContain(code);
    // The same challenge draws the same image (no averaging out the noise over reloads).
    expect((await portal.client().get(img![1]!)).text).toBe(svg.text);
  });

  it('accepts the code of the image, in any case, once', async () => {
    const fields = await captchaImageCode(portal, await page());
    const res = await post({ ...fields, [CAPTCHA_FIELDS.code]: fields[CAPTCHA_FIELDS.code]!.toLowerCase() });
    expect(res.status).toBe(200);
    expect(res.text).toContain(DONE);
    expect((await post(fields)).status).toBe(400);
  });

  it('accepts the answer to the question instead (captchaFields), and refuses a wrong code', async () => {
    const ok = await post(await captchaFields(await page()));
    expect(ok.status).toBe(200);
    const fields = await captchaImageCode(portal, await page());
    const wrong = await post({ ...fields, [CAPTCHA_FIELDS.code]: 'ZZZZZ' });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain(REFUSED);
    expect(wrong.text).toMatch(/<input id="captcha" name="captcha_code"[^>]*aria-describedby="captcha-aide captcha-erreur-0" aria-invalid="true" autofocus>/);
  });

  it('refuses proofs of work, expired images and unknown images', async () => {
    const html = await page();
    expect((await portal.client().get('/captcha/defi')).status).toBe(404);
    const token = readCaptcha(html)!.token;
    // Not the last character: its low bits are base64 padding, so 'A' and 'B' there can decode alike.
    const forged = token.slice(0, -10) + (token.at(-10) === 'A' ? 'B' : 'A') + token.slice(-9);
    expect((await portal.client().get(`/captcha/image/${forged}.svg`)).status).toBe(404);
    expect((await portal.client().get(`/captcha/image/${token}.png`)).status).toBe(404);
    const fields = await captchaImageCode(portal, html);
    portal.clock.advance(CAPTCHA_TTL_MS + 1000);
    expect((await portal.client().get(`/captcha/image/${token}.svg`)).status).toBe(404);
    expect((await post(fields)).status).toBe(400);
  });
});
