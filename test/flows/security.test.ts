// CSRF on every POST route, security headers, and a deterministic flood of malformed posts that must
// never produce a 5xx or leak internals; a 1 MB password never reaches the hasher.
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { unlockAccount } from '../../src/flows/accounts.ts';
import { requestPasswordReset } from '../../src/flows/forgotten-password.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { captchaFields } from '../support/captcha.ts';
import type { WebClient, WebResponse } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import {
  csrfFrom, expectNoInternals, GENERIC_FAILURE, prng, rawRequest, SESSION_COOKIE, sessionSetCookie, sessionsOf, sha256Hex,
  signIn, spyVerify, START_TIMEOUT, userRow, type RawResponse,
} from './auth-helpers.ts';

const CSRF_PAGE = 'Le formulaire a expiré ou ne vient pas de ce site. Rechargez la page et recommencez.';
const TOO_LARGE = 'Les données envoyées sont trop volumineuses.';
const NEW_PASSWORD = 'Nouveau#Mot2passe-Sûr';
const MEGABYTE = 1024 * 1024;

/** Every POST route of the app, from fastify's own route table (so a new route is covered, or fails here). */
/**
 * Routes left to their own tests: /api/v1 authenticates by bearer token, not cookies, so CSRF does not
 * apply and its errors are JSON (api.test.ts); /support answers 404 to anyone without the support role,
 * before any other check, so that it reveals nothing (support.test.ts).
 */
const OWN_TESTS = /^\/(api|support)\//;

function postRoutes(printed: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of printed.split('\n')) {
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([^)]*)\))?\s*$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    if ((m[3] ?? '').split(',').map((s) => s.trim()).includes('POST')) routes.push(stack.join(''));
  }
  return routes;
}

describe.each(ENGINES)('security (%s)', (engine) => {
  let portal: Portal;
  let restore: (() => void)[] = [];
  beforeAll(async () => {
    portal = await startPortal(engine, { SESAME_IP_FAILURE_LIMIT: '100000', SESAME_CAPTCHA_DIFFICULTY: '10' });
  }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });
  afterEach(() => {
    for (const r of restore) r();
    restore = [];
  });

  /** What a POST could change: accounts, sessions, reset links, audit, mails, throttle counters. */
  const snapshot = async () => {
    const db = portal.ctx.db;
    const users = await db.selectFrom('users').select(['id', 'password_hash', 'failed_count', 'locked_at', 'temp_password_expires_at']).orderBy('id').execute();
    const sessions = await db.selectFrom('sessions').select(['token_hash', 'last_seen_at']).orderBy('token_hash').execute();
    const resets = await db.selectFrom('reset_tokens').select(['token_hash', 'used_at']).orderBy('token_hash').execute();
    const counts = await sql<Record<string, string>>`select
      (select count(*) from audit_events) as audit, (select count(*) from outbox) as outbox,
      (select count(*) from password_history) as history, (select coalesce(sum(failures), 0) from ip_failures) as ip`.execute(db);
    return JSON.stringify({ users, sessions, resets, counts: counts.rows[0] });
  };

  /** A form post with exactly these fields and headers (cookies from the jar unless given). */
  const postForm = (client: WebClient, path: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) =>
    client.post(path, fields, headers);

  const expectCsrfRefusal = (res: WebResponse, label: string) => {
    expect(res.status, label).toBe(403);
    expect(res.headers.get('content-type'), label).toBe('text/html; charset=utf-8');
    expect(res.text, label).toMatch(/<html lang="fr">/);
    expect(res.text, label).toContain(CSRF_PAGE);
    expectNoInternals(res, label);
  };

  it('requires the CSRF token on every POST route: without it, or with a wrong one, 403 and nothing changes', async () => {
    const routes = postRoutes(portal.app.printRoutes({ method: 'POST', commonPrefix: false })).filter((r) => !OWN_TESTS.test(r));
    expect(routes).toEqual(expect.arrayContaining([
      '/connexion', '/deconnexion', '/premiere-connexion', '/mot-de-passe-oublie', '/identifiant-oublie',
      '/reinitialisation/:token', '/compte/mot-de-passe', '/compte/sessions/:id/fin',
    ]));

    const owner = await portal.activeUser('csrf.titulaire');
    const second = portal.client();
    expect((await signIn(second, owner.login, STRONG_PASSWORD)).location).toBe('/compte');
    const secondId = (await sessionsOf(portal, owner.userId)).find((s) => s.token_hash === sha256Hex(second.cookie(SESSION_COOKIE)!))!.id;
    const newcomer = await portal.createUser('csrf.nouveau');
    const firstTime = portal.client();
    expect((await signIn(firstTime, newcomer.login, newcomer.temporary)).location).toBe('/premiere-connexion');
    const forgetful = await portal.activeUser('csrf.oublieux');
    await requestPasswordReset(portal.ctx, forgetful.login, CLI_ORIGIN);
    const resetMail = await portal.mail(forgetful.email, /demande de changement de mot de passe/);
    const resetToken = /\/reinitialisation\/([A-Za-z0-9_-]{43})/.exec(resetMail.text)![1]!;
    const anonymous = portal.client();

    const forgotPage = await anonymous.get('/mot-de-passe-oublie');
    const forgotIdPage = await anonymous.get('/identifiant-oublie');
    const fixtures: Record<string, { client: WebClient; path: string; page: string; fields: Record<string, string> }> = {
      '/connexion': { client: anonymous, path: '/connexion', page: '/connexion', fields: { identifiant: owner.login, mot_de_passe: STRONG_PASSWORD } },
      '/deconnexion': { client: owner.client, path: '/deconnexion', page: '/compte', fields: {} },
      '/premiere-connexion': { client: firstTime, path: '/premiere-connexion', page: '/premiere-connexion', fields: { nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD } },
      '/mot-de-passe-oublie': { client: anonymous, path: '/mot-de-passe-oublie', page: '/mot-de-passe-oublie', fields: { identifiant: owner.login, ...await captchaFields(forgotPage.text) } },
      '/identifiant-oublie': { client: anonymous, path: '/identifiant-oublie', page: '/identifiant-oublie', fields: { email: owner.email, ...await captchaFields(forgotIdPage.text) } },
      '/reinitialisation/:token': { client: anonymous, path: `/reinitialisation/${resetToken}`, page: `/reinitialisation/${resetToken}`, fields: { nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD } },
      '/compte/mot-de-passe': { client: owner.client, path: '/compte/mot-de-passe', page: '/compte', fields: { ancien_mot_de_passe: STRONG_PASSWORD, nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD } },
      '/compte/sessions/:id/fin': { client: owner.client, path: `/compte/sessions/${secondId}/fin`, page: '/compte', fields: {} },
    };
    // A token that is valid, but for another browser's secret.
    const foreignToken = await csrfFrom(portal.client(), '/connexion');

    for (const route of routes) {
      const fixture = fixtures[route] ?? {
        client: anonymous, path: route.replace(/:[^/]+/g, 'x'), page: '/connexion', fields: { champ: 'valeur' },
      };
      const token = await csrfFrom(fixture.client, fixture.page);
      const jar = fixture.client.cookies();
      const withoutSecret = Object.entries(jar).filter(([k]) => k !== '__Host-csrf').map(([k, v]) => `${k}=${v}`).join('; ');
      const attempts: [string, () => Promise<WebResponse>][] = [
        ['no token', () => postForm(fixture.client, fixture.path, fixture.fields)],
        ['empty token', () => postForm(fixture.client, fixture.path, { ...fixture.fields, _csrf: '' })],
        ['garbage token', () => postForm(fixture.client, fixture.path, { ...fixture.fields, _csrf: 'pas-un-jeton' })],
        ["another browser's token", () => postForm(fixture.client, fixture.path, { ...fixture.fields, _csrf: foreignToken })],
        ['the token twice', () => postForm(fixture.client, fixture.path, { ...fixture.fields, _csrf: [token, token] })],
        ['token without its secret cookie', () => postForm(fixture.client, fixture.path, { ...fixture.fields, _csrf: token }, { cookie: withoutSecret })],
        ['token in a header only', () => postForm(fixture.client, fixture.path, fixture.fields, { 'x-csrf-token': token, 'csrf-token': token })],
        ['token in the query string', () => postForm(fixture.client, `${fixture.path}?_csrf=${encodeURIComponent(token)}`, fixture.fields)],
      ];
      const before = await snapshot();
      for (const [label, attempt] of attempts) {
        const res = await attempt();
        expectCsrfRefusal(res, `${route}: ${label}`);
        expect(await snapshot(), `${route}: ${label} changed something`).toBe(before);
        expect(sessionSetCookie(res), `${route}: ${label}`).toBeUndefined();
      }
    }

    // The very same posts with the right token do change something: the refusals above were the token's doing.
    const order = ['/connexion', '/mot-de-passe-oublie', '/identifiant-oublie', '/reinitialisation/:token',
      '/premiere-connexion', '/compte/sessions/:id/fin', '/compte/mot-de-passe', '/deconnexion'];
    for (const route of order) {
      const fixture = fixtures[route]!;
      const token = await csrfFrom(fixture.client, fixture.page);
      const before = await snapshot();
      const res = await postForm(fixture.client, fixture.path, { ...fixture.fields, _csrf: token });
      expect(res.status, `${route} with its token`).toBeLessThan(400);
      expect(await snapshot(), `${route} with its token changed nothing`).not.toBe(before);
    }
  }, 120_000);

  it('sends the security headers, and no-store on pages', async () => {
    const { client } = await portal.activeUser('entetes');
    const anonymous = portal.client();
    const responses: [string, WebResponse][] = [
      ['login page', await anonymous.get('/connexion')],
      ['account page', await client.get('/compte')],
      ['failed sign-in', await signIn(portal.client(), 'entetes', 'mauvais')],
      ['forgotten password', await anonymous.get('/mot-de-passe-oublie')],
      ['not found', await anonymous.get('/nulle-part')],
      ['CSRF refusal', await anonymous.post('/connexion', { identifiant: 'x', mot_de_passe: 'y' })],
      ['too large', await anonymous.postRaw('/connexion', `a=${'x'.repeat(MEGABYTE)}`, 'application/x-www-form-urlencoded')],
    ];
    for (const [label, res] of responses) {
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, label).toContain("default-src 'self'");
      expect(csp, label).toContain("frame-ancestors 'none'");
      expect(csp, label).toContain("object-src 'none'");
      expect(csp, label).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options'), label).toBe('DENY');
      expect(res.headers.get('x-content-type-options'), label).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), label).toBe('same-origin');
      expect(res.headers.get('strict-transport-security'), label).toContain('max-age=');
      expect(res.headers.get('content-type'), label).toBe('text/html; charset=utf-8');
      expect(res.headers.get('cache-control'), label).toBe('no-store');
    }
  });

  it('keeps a 1 MB password (or any over-long one) away from the hasher', async () => {
    const owner = await portal.activeUser('mega.mot');
    const newcomer = await portal.createUser('mega.nouveau');
    const firstTime = portal.client();
    expect((await signIn(firstTime, newcomer.login, newcomer.temporary)).location).toBe('/premiere-connexion');
    const verify = spyVerify(portal);
    const hash = vi.spyOn(portal.ctx.hasher, 'hash');
    restore.push(() => verify.restore(), () => hash.mockRestore());
    const huge = `A1#${'x'.repeat(MEGABYTE)}`;
    const anonymous = portal.client();

    const posts: [string, WebClient, string, string, Record<string, string>][] = [
      ['/connexion', anonymous, '/connexion', '/connexion', { identifiant: owner.login, mot_de_passe: huge }],
      ['/compte/mot-de-passe (current)', owner.client, '/compte', '/compte/mot-de-passe', { ancien_mot_de_passe: huge, nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD }],
      ['/compte/mot-de-passe (new)', owner.client, '/compte', '/compte/mot-de-passe', { ancien_mot_de_passe: STRONG_PASSWORD, nouveau_mot_de_passe: huge, confirmation: huge }],
      ['/premiere-connexion', firstTime, '/premiere-connexion', '/premiere-connexion', { nouveau_mot_de_passe: huge, confirmation: huge }],
    ];
    for (const [label, client, page, path, fields] of posts) {
      const res = await client.post(path, { ...fields, _csrf: await csrfFrom(client, page) });
      expect(res.status, label).toBe(413);
      expect(res.text, label).toContain(TOO_LARGE);
      expect(res.text, label).toMatch(/<html lang="fr">/);
      expectNoInternals(res, label);
    }
    expect(verify.total()).toBe(0);
    expect(hash).not.toHaveBeenCalled();

    // Long, but under the body limit: refused before hashing too (a dummy verification keeps the timing).
    const long = `A1#${'x'.repeat(20_000)}`;
    const login = await anonymous.post('/connexion', { _csrf: await csrfFrom(anonymous, '/connexion'), identifiant: owner.login, mot_de_passe: long });
    expect(login.status).toBe(401);
    expect(login.text).toContain(GENERIC_FAILURE);
    const change = await owner.client.post('/compte/mot-de-passe', { _csrf: await csrfFrom(owner.client, '/compte'), ancien_mot_de_passe: STRONG_PASSWORD, nouveau_mot_de_passe: long, confirmation: 'x' });
    expect(change.status).toBe(400);
    const first = await firstTime.post('/premiere-connexion', { _csrf: await csrfFrom(firstTime, '/premiere-connexion'), nouveau_mot_de_passe: long, confirmation: 'x' });
    expect(first.status).toBe(400);
    const lengths = [...verify.passwords(), ...hash.mock.calls.map((c) => c[0])].map((p) => p.length);
    expect(Math.max(0, ...lengths)).toBeLessThanOrEqual(512);
  });

  it('answers a few hundred malformed posts with a 4xx page, never a 5xx nor a stack trace', async () => {
    const random = prng(0x5e5a3e);
    const routes = postRoutes(portal.app.printRoutes({ method: 'POST', commonPrefix: false })).filter((r) => !OWN_TESTS.test(r));
    const fuzzed = await portal.activeUser('fuzz.titulaire');
    let owner = fuzzed.client;
    let newcomer: WebClient | undefined;
    let newcomers = 0;
    const anonymous = portal.client();

    const hasSession = async (client: WebClient, scope: 'full' | 'password-change') => {
      const cookie = client.cookie(SESSION_COOKIE);
      if (!cookie) return false;
      const row = await portal.ctx.db.selectFrom('sessions').select('scope').where('token_hash', '=', sha256Hex(cookie)).executeTakeFirst();
      return row?.scope === scope;
    };
    /** The client each route needs, signed in again (or a new first-time user) when the fuzz ended its session. */
    const clientFor = async (route: string): Promise<{ client: WebClient; page: string }> => {
      if (route.startsWith('/compte') || route === '/deconnexion') {
        if (!(await hasSession(owner, 'full')) || (await userRow(portal, fuzzed.login)).locked_at) {
          await unlockAccount(portal.ctx, fuzzed.login, CLI_ORIGIN);
          owner = portal.client();
          expect((await signIn(owner, fuzzed.login, STRONG_PASSWORD)).location).toBe('/compte');
        }
        return { client: owner, page: '/compte' };
      }
      if (route === '/premiere-connexion') {
        if (!newcomer || !(await hasSession(newcomer, 'password-change'))) {
          const user = await portal.createUser(`fuzz.nouveau${++newcomers}`);
          newcomer = portal.client();
          expect((await signIn(newcomer, user.login, user.temporary)).location).toBe('/premiere-connexion');
        }
        return { client: newcomer, page: '/premiere-connexion' };
      }
      return { client: anonymous, page: '/connexion' }; // a browser's token is good for all its forms
    };

    const FIELDS = ['_csrf', 'identifiant', 'mot_de_passe', 'email', 'nouveau_mot_de_passe', 'confirmation', 'ancien_mot_de_passe', 'deconnecter_autres', 'captcha_defi', 'captcha_preuve', 'captcha_reponse', '__proto__', 'constructor'];
    const STRINGS = ['', ' ', fuzzed.login, fuzzed.email, STRONG_PASSWORD, 'é', 'Ω≈ç√∫', '😀👩‍⚕️🏥', 'ﷺ'.repeat(300), '\u202e\u0645\u0631\u062d\u0628\u0627', 'a\u0000b', '\u0000',
      '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "' OR '1'='1' --", '<%= it.csrf %>', '${7*7}', '{{7*7}}', '../../../etc/passwd', '%00%ff',
      '\r\nSet-Cookie: x=y', 'x'.repeat(5000), 'A1#'.repeat(200), '\ud800', '\udfff\ud800', 'true', '-1', '1e309', 'NaN', 'null'];
    const CONTENT_TYPES = ['application/octet-stream', 'text/plain', 'text/plain; charset=utf-8', 'multipart/form-data; boundary=----sesame', 'application/xml',
      'application/x-www-form-urlencoded; charset=utf-16', 'application/x-www-form-urlencoded; charset=iso-8859-1', 'application/json; charset=latin1', 'application/json',
      'application/x-www-form-urlencoded, application/json', 'text/html', 'image/png', '*/*', 'totally bogus', 'application/', ';;;', 'application/x-www-form-urlencoded;;;=x'];
    const value = (): string | string[] => {
      const pick = random.pick(STRINGS);
      switch (random.int(6)) {
        case 0: return [pick, random.pick(STRINGS)];
        case 1: return pick + random.bytes(8).toString('latin1');
        default: return pick;
      }
    };
    const jsonValue = (depth = 0): unknown => {
      switch (random.int(depth > 2 ? 3 : 7)) {
        case 0: return random.pick(STRINGS);
        case 1: return random.int(2) ? random.int(1e9) : -1.5e308;
        case 2: return random.pick([null, true, false]);
        case 3: return [jsonValue(depth + 1), jsonValue(depth + 1)];
        case 4: return { [random.pick(FIELDS)]: jsonValue(depth + 1) };
        default: return random.pick(STRINGS);
      }
    };
    const nested = (depth: number, leaf: unknown) => {
      let inner: unknown = leaf;
      for (let i = 0; i < depth; i++) inner = random.int(2) ? [inner] : { a: inner };
      return inner;
    };

    type Case = { label: string; method: string; path: string; contentType?: string; body?: string | Buffer; expectStatus?: number };
    const makeCase = (route: string, token: string, n: number): Case => {
      const junkParam = () => encodeURIComponent(random.pick(['x', '%00', '..%2f..', 'é'.repeat(20), 'A'.repeat(43), 'A'.repeat(180), '00000000-0000-0000-0000-000000000000', random.bytes(12).toString('base64url')]));
      const path = route.replace(/:[^/]+/g, () => junkParam());
      const form = (fields: Record<string, string | string[]>) => {
        const body = new URLSearchParams();
        for (const [k, v] of Object.entries(fields)) for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
        return body.toString();
      };
      const randomFields = (withToken: boolean) => {
        const fields: Record<string, string | string[]> = withToken ? { _csrf: token } : {};
        for (let i = random.int(5); i >= 0; i--) {
          const name = random.pick(FIELDS);
          if (name !== '_csrf' || !withToken || random.int(4) === 0) fields[name] = value();
        }
        return fields;
      };
      const kind = n % 12;
      switch (kind) {
        case 0: return { label: 'empty form', method: 'POST', path, contentType: 'application/x-www-form-urlencoded', body: '' };
        case 1: case 2: return { label: 'random form', method: 'POST', path, contentType: 'application/x-www-form-urlencoded', body: form(randomFields(random.int(5) > 0)) };
        case 3: {
          const names = [random.pick(FIELDS), '_csrf', random.pick(FIELDS)];
          return { label: 'repeated fields', method: 'POST', path, contentType: 'application/x-www-form-urlencoded', body: names.map((f) => `${f}=1&${f}=2`).join('&') };
        }
        case 4: return {
          label: 'invalid UTF-8 / NUL', method: 'POST', path, contentType: 'application/x-www-form-urlencoded',
          body: Buffer.concat([Buffer.from(`_csrf=${encodeURIComponent(token)}&identifiant=%FF%FE%ED%A0%80%00&mot_de_passe=`), random.bytes(64), Buffer.from('&email=\u0000%C3%28&nouveau_mot_de_passe=%E2%82')]),
        };
        case 5: return { label: 'binary garbage', method: 'POST', path, contentType: random.pick(CONTENT_TYPES), body: random.bytes(1 + random.int(4000)) };
        case 6: {
          const obj: Record<string, unknown> = { _csrf: random.int(4) ? token : jsonValue() };
          for (let i = random.int(6); i >= 0; i--) obj[random.pick(FIELDS)] = jsonValue();
          return { label: 'JSON object', method: 'POST', path, contentType: 'application/json', body: JSON.stringify(obj) };
        }
        case 7: {
          const root = random.pick<unknown>([null, 42, 'texte', [token], true, nested(3, token)]);
          return { label: 'JSON non-object', method: 'POST', path, contentType: 'application/json', body: JSON.stringify(root) };
        }
        case 8: {
          const depth = 500 + random.int(4000);
          // Written by hand: JSON.stringify itself would overflow the stack at these depths.
          const deep = (open: string, leaf: string, close: string) => `${open.repeat(depth)}${leaf}${close.repeat(depth)}`;
          const body = random.int(2)
            ? `{"_csrf":${JSON.stringify(token)},"identifiant":${deep('{"a":', '"x"', '}')},"mot_de_passe":${JSON.stringify(nested(50, 'y'))}}`
            : deep('[', '', ']');
          return { label: `deeply nested JSON (${depth})`, method: 'POST', path, contentType: 'application/json', body };
        }
        case 9: {
          const bodies = ['{"_csrf":', '{', '[1,2', '{"a":1}}', '\u0000', 'undefined', `{"_csrf":"${token}","identifiant":"\\ud800"}`, `{"__proto__":{"_csrf":"${token}"}}`, `{"constructor":{"prototype":{"_csrf":"${token}"}}}`];
          return { label: 'broken JSON', method: 'POST', path, contentType: random.pick(['application/json', 'application/json; charset=utf-8']), body: random.pick(bodies) };
        }
        case 10: {
          const field = random.pick(['identifiant', 'mot_de_passe', 'email', 'nouveau_mot_de_passe', 'ancien_mot_de_passe']);
          const length = 2_000 + random.int(8_000);
          return { label: `very long ${field} (${length})`, method: 'POST', path, contentType: 'application/x-www-form-urlencoded', body: form({ _csrf: token, [field]: 'Aé1#'.repeat(length / 4), confirmation: 'x' }) };
        }
        default: {
          const method = random.pick(['PUT', 'PATCH', 'DELETE', 'GET', 'OPTIONS', 'PROPFIND', 'TRACE']);
          const withBody = !['GET', 'TRACE'].includes(method);
          return { label: `${method} instead of POST`, method, path, ...(withBody ? { contentType: 'application/x-www-form-urlencoded', body: form({ _csrf: token }) } : {}) };
        }
      }
    };

    const statuses = new Map<string, Set<number>>();
    const tokens = new Map<WebClient, string>(); // a form's token stays valid for its browser
    let count = 0;
    const check = (res: RawResponse | WebResponse, label: string) => {
      count++;
      const text = res.text;
      expectNoInternals({ status: res.status, text }, label);
      const type = res.headers instanceof Headers ? res.headers.get('content-type') : res.headers['content-type'];
      if (res.status >= 400 && text) {
        expect(type, label).toBe('text/html; charset=utf-8');
        expect(text, label).toMatch(/<html lang="fr">/);
      }
    };
    const send = async (client: WebClient, c: Case): Promise<RawResponse> => {
      const headers: Record<string, string> = {
        cookie: Object.entries(client.cookies()).map(([k, v]) => `${k}=${v}`).join('; '),
        'user-agent': 'SesameFuzz/1.0',
        'accept-language': 'fr-FR',
        ...(c.contentType !== undefined ? { 'content-type': c.contentType } : {}),
      };
      if (c.body !== undefined) headers['content-length'] = String(Buffer.byteLength(c.body));
      return rawRequest(portal.url, { method: c.method, path: c.path, headers, body: c.body });
    };

    // Bounded: a few hundred in all, at least one of each kind per route, however many routes there are.
    const perRoute = Math.max(12, Math.ceil(360 / routes.length));
    for (const route of routes) {
      for (let n = 0; n < perRoute; n++) {
        const { client, page } = await clientFor(route);
        if (!tokens.has(client)) tokens.set(client, await csrfFrom(client, page));
        const token = tokens.get(client)!;
        const c = makeCase(route, token, n);
        const label = `${route} #${n}: ${c.label} [${c.method} ${c.path.slice(0, 80)}${c.contentType ? ` ${c.contentType}` : ''}]`;
        const res = await send(client, c);
        check(res, label);
        if (!statuses.has(route)) statuses.set(route, new Set());
        statuses.get(route)!.add(res.status);
      }
      // 1 MB, as a form and as garbage: refused on size alone.
      for (const [contentType, body] of [
        ['application/x-www-form-urlencoded', `identifiant=x&mot_de_passe=${'A'.repeat(MEGABYTE)}`],
        ['application/json', JSON.stringify({ mot_de_passe: 'B'.repeat(MEGABYTE) })],
      ] as const) {
        const { client } = await clientFor(route);
        const res = await send(client, { label: '1 MB', method: 'POST', path: route.replace(/:[^/]+/g, 'x'), contentType, body });
        check(res, `${route}: 1 MB ${contentType}`);
        expect(res.status, `${route}: 1 MB`).toBe(413);
        expect(res.text).toContain(TOO_LARGE);
      }
    }
    expect(count).toBeGreaterThanOrEqual(300);
    // The flood reached the handlers, not only the guards in front of them.
    const all = new Set([...statuses.values()].flatMap((s) => [...s]));
    for (const status of [303, 400, 401, 403, 404, 410, 415]) expect([...all], `status ${status} seen`).toContain(status);
    for (const [route, seen] of statuses) {
      expect([...seen].some((s) => ![403, 404, 413, 415].includes(s)), `${route}: only refused by the guards (${[...seen]})`).toBe(true);
    }
    // And the portal still works.
    const after = portal.client();
    expect((await signIn(after, 'fuzz.titulaire', STRONG_PASSWORD)).status).toBeLessThan(500);
    expect((await anonymous.get('/connexion')).status).toBe(200);
  }, 180_000);
});
