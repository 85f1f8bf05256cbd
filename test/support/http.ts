// A small browser-like HTTP client for flow tests: cookie jar, no automatic
// redirects, form posts with the page's CSRF token.

export interface WebResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The raw Location header, or null. */
  location: string | null;
  /** The absolute URL that was requested. */
  url: string;
}

export interface WebClientOptions {
  userAgent?: string;
  /** Sent as X-Forwarded-For on every request. */
  forwardedFor?: string;
  /** Extra headers sent on every request. */
  headers?: Record<string, string>;
}

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  /** Epoch ms, or undefined for a session cookie. */
  expires: number | undefined;
}

type Form = Record<string, string | string[]>;

export class WebClient {
  readonly baseUrl: string;
  private readonly defaultHeaders: Record<string, string>;
  private jar = new Map<string, StoredCookie>();

  constructor(baseUrl: string, opts: WebClientOptions = {}) {
    this.baseUrl = baseUrl;
    this.defaultHeaders = {
      'user-agent': opts.userAgent ?? 'Mozilla/5.0 (X11; Linux x86_64) SesameTest/1.0',
      'accept-language': 'fr-FR,fr;q=0.9',
      ...(opts.forwardedFor ? { 'x-forwarded-for': opts.forwardedFor } : {}),
      ...lowerKeys(opts.headers ?? {}),
    };
  }

  get(path: string, headers: Record<string, string> = {}): Promise<WebResponse> {
    return this.request('GET', path, undefined, { accept: 'text/html,*/*', ...headers });
  }

  /** POSTs an application/x-www-form-urlencoded form (array values repeat the field). */
  post(path: string, form: Form, headers: Record<string, string> = {}): Promise<WebResponse> {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) {
      for (const item of Array.isArray(v) ? v : [v]) body.append(k, item);
    }
    return this.postRaw(path, body.toString(), 'application/x-www-form-urlencoded', headers);
  }

  postRaw(path: string, body: string | Buffer, contentType: string, headers: Record<string, string> = {}): Promise<WebResponse> {
    return this.request('POST', path, body, { 'content-type': contentType, ...headers });
  }

  /** GETs the Location of a redirect response (relative to the URL that answered). */
  follow(res: WebResponse): Promise<WebResponse> {
    if (res.location === null) {
      throw new Error(`WebClient.follow: ${res.status} response from ${res.url} has no Location header`);
    }
    return this.get(new URL(res.location, res.url).toString());
  }

  /** The value of the page's `<input type="hidden" name="_csrf" value="…">`. */
  csrf(html: string): string {
    for (const tag of html.matchAll(/<input\b[^>]*>/gi)) {
      const attrs = parseAttributes(tag[0]);
      if (attrs.get('name') === '_csrf' && attrs.has('value')) return attrs.get('value') ?? '';
    }
    throw new Error(`WebClient.csrf: no <input name="_csrf"> in page:\n${html.slice(0, 2000)}`);
  }

  /**
   * GETs the page at path, then POSTs fields plus its _csrf to the action of
   * the form posting to path itself, else its first `<form method="post">` that is not the sign-out one (or to path). Explicit fields win, so a
   * test can send a wrong `_csrf` on purpose.
   */
  async submit(path: string, fields: Form = {}): Promise<WebResponse> {
    const page = await this.get(path);
    if (page.status !== 200) {
      throw new Error(`WebClient.submit: GET ${page.url} answered ${page.status}, expected 200 with a form`);
    }
    // The form whose action is the page itself wins; otherwise the first post form that is not the
    // header's « Se déconnecter ».
    const actions: string[] = [];
    for (const tag of page.text.matchAll(/<form\b[^>]*>/gi)) {
      const attrs = parseAttributes(tag[0]);
      if ((attrs.get('method') ?? '').toLowerCase() === 'post') actions.push(attrs.get('action') ?? '');
    }
    const bare = path.split('?')[0];
    const action = actions.find((a) => a === bare) ?? actions.find((a) => a !== '/deconnexion') ?? actions[0];
    const target = new URL(action || path, page.url).toString();
    return this.post(target, { _csrf: this.csrf(page.text), ...fields });
  }

  /** Current value of a cookie in the jar (any path), or undefined. */
  cookie(name: string): string | undefined {
    this.purgeExpired();
    for (const c of this.jar.values()) if (c.name === name) return c.value;
    return undefined;
  }

  /** All cookies in the jar, name → value. */
  cookies(): Record<string, string> {
    this.purgeExpired();
    const out: Record<string, string> = {};
    for (const c of this.jar.values()) out[c.name] = c.value;
    return out;
  }

  clearCookies(): void {
    this.jar.clear();
  }

  private async request(method: string, path: string, body: string | Buffer | undefined, headers: Record<string, string>): Promise<WebResponse> {
    const url = new URL(path, this.baseUrl);
    const h: Record<string, string> = { ...this.defaultHeaders, ...lowerKeys(headers) };
    // Browsers send Origin on every POST.
    if (method === 'POST' && !('origin' in h)) h.origin = url.origin;
    const cookieHeader = this.cookieHeaderFor(url.pathname);
    if (cookieHeader && !('cookie' in h)) h.cookie = cookieHeader;

    const res = await fetch(url, {
      method,
      headers: h,
      body: typeof body === 'string' ? body : body === undefined ? undefined : new Uint8Array(body),
      redirect: 'manual',
    });
    for (const line of res.headers.getSetCookie()) this.store(line, url.pathname);
    return {
      status: res.status,
      headers: res.headers,
      text: await res.text(),
      location: res.headers.get('location'),
      url: url.toString(),
    };
  }

  private store(setCookie: string, requestPath: string): void {
    const [pair = '', ...attrParts] = setCookie.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return;
    const name = pair.slice(0, eq).trim();
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);

    let path: string | undefined;
    let expires: number | undefined;
    let maxAgeSeen = false;
    for (const part of attrParts) {
      const i = part.indexOf('=');
      const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
      const val = i < 0 ? '' : part.slice(i + 1).trim();
      if (key === 'path' && val.startsWith('/')) path = val;
      else if (key === 'max-age' && /^-?\d+$/.test(val)) {
        maxAgeSeen = true; // Max-Age wins over Expires
        expires = Number(val) <= 0 ? 0 : Date.now() + Number(val) * 1000;
      } else if (key === 'expires' && !maxAgeSeen) {
        const t = Date.parse(val);
        if (!Number.isNaN(t)) expires = t;
      }
      // Secure, HttpOnly, SameSite, Domain: ignored (tests run on http://127.0.0.1).
    }
    path ??= defaultPath(requestPath);
    const key = `${name}\u0000${path}`;
    if (expires !== undefined && expires <= Date.now()) this.jar.delete(key);
    else this.jar.set(key, { name, value, path, expires });
  }

  private purgeExpired(): void {
    const now = Date.now();
    for (const [k, c] of this.jar) if (c.expires !== undefined && c.expires <= now) this.jar.delete(k);
  }

  private cookieHeaderFor(requestPath: string): string {
    this.purgeExpired();
    return [...this.jar.values()]
      .filter((c) => pathMatches(requestPath, c.path))
      .sort((a, b) => b.path.length - a.path.length) // longer paths first, as browsers do
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }
}

function lowerKeys(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

/** RFC 6265 §5.1.4 default-path. */
function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const last = requestPath.lastIndexOf('/');
  return last <= 0 ? '/' : requestPath.slice(0, last);
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

/** Attributes of one start tag, names lower-cased, values entity-decoded. */
function parseAttributes(tag: string): Map<string, string> {
  const attrs = new Map<string, string>();
  const inner = tag.replace(/^<\w+/, '').replace(/\/?>$/, '');
  for (const m of inner.matchAll(/([^\s"'=<>\/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = (m[1] ?? '').toLowerCase();
    if (!attrs.has(name)) attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ''));
  }
  return attrs;
}

const NAMED: Record<string, string> = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>', nbsp: '\u00a0' };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ent: string) => {
    if (ent[0] === '#') {
      const code = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED[ent.toLowerCase()] ?? whole;
  });
}
