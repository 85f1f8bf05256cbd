// Helpers of the sign-in / lockout / throttle / sessions / audit / security flow tests (not a test file).
import { createHash } from 'node:crypto';
import http from 'node:http';
import { expect, vi } from 'vitest';
import type { WebClient, WebResponse } from '../support/http.ts';
import type { Portal } from '../support/portal.ts';

export const SESSION_COOKIE = '__Host-sesame';
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const GENERIC_FAILURE = 'Identifiant ou mot de passe incorrect, ou compte inutilisable.';
export const WRONG_PASSWORD = 'Pas-le-bon#Mot2passe';
/** Starting a portal is about a second, but PGlite's start can take far longer on a loaded machine. */
export const START_TIMEOUT = 180_000;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** Every argon2 verification the portal performs (real ones and the dummy ones), with what it compared. */
export function spyVerify(portal: Portal) {
  const spy = vi.spyOn(portal.ctx.hasher, 'verify');
  return {
    spy,
    total: () => spy.mock.calls.length,
    /** Verifications against that stored hash: the guesses really checked. */
    against: (phc: string) => spy.mock.calls.filter((call) => call[0] === phc).length,
    passwords: () => spy.mock.calls.map((call) => call[1]),
    reset: () => spy.mockClear(),
    restore: () => spy.mockRestore(),
  };
}

/** GETs the page and returns its CSRF token (the jar keeps the secret cookie). */
export async function csrfFrom(client: WebClient, path: string): Promise<string> {
  const page = await client.get(path);
  expect(page.status, `GET ${path}`).toBe(200);
  return client.csrf(page.text);
}

export function signIn(client: WebClient, identifier: string, password: string): Promise<WebResponse> {
  return client.submit('/connexion', { identifiant: identifier, mot_de_passe: password });
}

/** « Se déconnecter », from the header form of « Mon compte ». */
export async function signOut(client: WebClient): Promise<WebResponse> {
  const token = await csrfFrom(client, '/compte');
  return client.post('/deconnexion', { _csrf: token });
}

/** The login page as any failure shows it, without what legitimately varies: the CSRF token, the identifier typed. */
export function comparableLoginPage(html: string): string {
  return html
    .replace(/(name="_csrf" value=")[^"]*"/g, '$1…"')
    .replace(/(<input id="identifiant"[^>]*?) value="[^"]*"/, '$1 value="…"');
}

/** The raw Set-Cookie line that sets the session cookie, if any. */
export function sessionSetCookie(res: WebResponse): string | undefined {
  return res.headers.getSetCookie().find((line) => line.startsWith(`${SESSION_COOKIE}=`));
}

/** Cookie header of the client's jar, with extra cookies added or replaced. */
export function cookieHeader(client: WebClient, extra: Record<string, string> = {}): string {
  return Object.entries({ ...client.cookies(), ...extra }).map(([k, v]) => `${k}=${v}`).join('; ');
}

/** Whether this cookie value opens « Mon compte » for a browser that holds only it. */
export async function cookieOpensAccount(portal: Portal, token: string): Promise<boolean> {
  const res = await portal.client().get('/compte', { cookie: `${SESSION_COOKIE}=${token}` });
  if (res.status === 200) return true;
  expect(res.status).toBe(303);
  expect(res.location).toBe('/connexion');
  return false;
}

export async function userRow(portal: Portal, login: string) {
  return portal.ctx.db.selectFrom('users').selectAll().where('login', '=', login).executeTakeFirstOrThrow();
}

export async function sessionsOf(portal: Portal, userId: string) {
  return portal.ctx.db.selectFrom('sessions').selectAll().where('user_id', '=', userId).execute();
}

export async function auditRows(portal: Portal, userId: string) {
  return portal.ctx.db.selectFrom('audit_events').selectAll().where('user_id', '=', userId).orderBy('id').execute();
}

/** Ids of the sessions « Mon compte » offers to end (every one but the current). */
export function endableSessionIds(html: string): string[] {
  return [...html.matchAll(/action="\/compte\/sessions\/([0-9a-f-]{36})\/fin"/g)].map((m) => m[1]!);
}

/** Nothing in a response body may look like a stack trace or an internal error. */
export function expectNoInternals(res: { status: number; text: string }, label: string): void {
  expect(res.status, label).toBeLessThan(500);
  for (const leak of [/\n\s+at\s+\S/, /node_modules/, /node:internal/, /\.ts:\d+/, /\/work\//, /"stack"/, /\b(?:Type|Reference|Syntax|Range)Error\b/, /\bFST_[A-Z_]+/, /Internal Server Error/i]) {
    expect(leak.test(res.text), `${label}: body matches ${leak}:\n${res.text.slice(0, 500)}`).toBe(false);
  }
}

/** Deterministic PRNG (mulberry32): the same seed gives the same malformed requests at every run. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (max: number) => Math.floor(next() * max),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One HTTP request over node:http: any method, any header, any body, from a chosen local address. */
export function rawRequest(
  baseUrl: string,
  options: { method: string; path: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string },
): Promise<RawResponse> {
  const url = new URL(options.path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: options.method,
      headers: options.headers ?? {},
      localAddress: options.localAddress,
      agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Signs in from another loopback address (127.0.0.x): a different client IP without any proxy header. */
export async function signInFrom(portal: Portal, localAddress: string, identifier: string, password: string): Promise<RawResponse> {
  const page = await rawRequest(portal.url, { method: 'GET', path: '/connexion', localAddress, headers: { accept: 'text/html' } });
  expect(page.status).toBe(200);
  const cookies = (page.headers['set-cookie'] ?? []).map((line) => line.split(';')[0]).join('; ');
  const token = /name="_csrf" value="([^"]*)"/.exec(page.text)?.[1] ?? '';
  const body = new URLSearchParams({ _csrf: token, identifiant: identifier, mot_de_passe: password }).toString();
  return rawRequest(portal.url, {
    method: 'POST',
    path: '/connexion',
    localAddress,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Autre/1.0' },
    body,
  });
}
