import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { WebClient, decodeEntities } from './http.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';
import { startSmtpSink, type SmtpSink } from './smtp.ts';

describe('PostgreSQL helpers', () => {
  const adminUrl = inject('pgAdminUrl');
  const dbs: TestDatabase[] = [];
  const clients: pg.Client[] = [];

  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {}); // drop() terminates connections on purpose
    await client.connect();
    clients.push(client);
    return client;
  }

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await Promise.all(dbs.map((d) => d.drop()));
  });

  it('provides a server URL through inject()', () => {
    expect(adminUrl).toMatch(/^postgres(ql)?:\/\//);
  });

  it('creates a database one can connect to', async () => {
    const db = await createTestDatabase(adminUrl);
    dbs.push(db);
    const client = await connect(db.url);
    const { rows } = await client.query<{ one: number; db: string }>('select 1 as one, current_database() as db');
    expect(rows).toEqual([{ one: 1, db: new URL(db.url).pathname.slice(1) }]);
  });

  it('isolates databases from one another', async () => {
    const [a, b] = await Promise.all([createTestDatabase(adminUrl), createTestDatabase(adminUrl)]);
    dbs.push(a, b);
    expect(a.url).not.toBe(b.url);
    const ca = await connect(a.url);
    const cb = await connect(b.url);
    await ca.query('create table thing (v text)');
    await ca.query(`insert into thing values ('only in a')`);
    await expect(cb.query('select * from thing')).rejects.toThrow(/relation "thing" does not exist/);
    await cb.query('create table thing (v text)');
    expect((await cb.query('select count(*)::int as n from thing')).rows[0]).toEqual({ n: 0 });
    expect((await ca.query('select count(*)::int as n from thing')).rows[0]).toEqual({ n: 1 });
  });

  it('drop() removes the database even with open connections', async () => {
    const db = await createTestDatabase(adminUrl);
    const name = new URL(db.url).pathname.slice(1);
    await connect(db.url); // left open on purpose
    await db.drop();
    const admin = await connect(adminUrl);
    const { rows } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    expect(rows).toHaveLength(0);
  });
});

describe('SMTP sink', () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });

  function transport() {
    return nodemailer.createTransport({ host: sink.host, port: sink.port, secure: false, ignoreTLS: true });
  }

  it('receives and parses a mail sent over loopback', async () => {
    expect(sink.url).toMatch(/^smtp:\/\/127\.0\.0\.1:\d+$/);
    const waiting = sink.waitFor((m) => m.subject === 'Bienvenue sur Sésame');
    await transport().sendMail({
      from: 'Sésame <no-reply@sesame.test>',
      to: 'alice@example.org',
      subject: 'Bienvenue sur Sésame',
      text: 'Votre code : 123456',
      html: '<p>Votre code : <b>123456</b></p>',
    });
    const mail = await waiting;
    expect(mail.to).toEqual(['alice@example.org']);
    expect(mail.from).toContain('no-reply@sesame.test');
    expect(mail.text.trim()).toBe('Votre code : 123456');
    expect(mail.html).toContain('<b>123456</b>');
    expect(mail.date).toBeInstanceOf(Date);
    expect(sink.messages).toContain(mail);
    // Already received: resolves at once.
    await expect(sink.waitFor((m) => m.to.includes('alice@example.org'))).resolves.toBe(mail);
  });

  it('waitFor rejects on timeout listing what arrived', async () => {
    await expect(sink.waitFor((m) => m.subject === 'never', 50)).rejects.toThrow(/no matching mail within 50 ms.*Bienvenue sur Sésame/);
    sink.clear();
    expect(sink.messages).toHaveLength(0);
  });

  it('failNext makes the next messages fail with 451, then accepts again', async () => {
    sink.failNext(1);
    const t = transport();
    const err = await t.sendMail({ from: 'a@sesame.test', to: 'bob@example.org', subject: 'try 1', text: 'x' }).then(
      () => undefined,
      (e: unknown) => e as { responseCode?: number },
    );
    expect(err?.responseCode).toBe(451);
    expect(sink.messages).toHaveLength(0);
    expect(sink.rejected).toBe(1);
    await t.sendMail({ from: 'a@sesame.test', to: 'bob@example.org', subject: 'try 2', text: 'x' });
    expect((await sink.waitFor((m) => m.subject === 'try 2')).to).toEqual(['bob@example.org']);
  });

  it('startSmtpSink({ failNext }) rejects from the start', async () => {
    const other = await startSmtpSink({ failNext: 2 });
    try {
      const t = nodemailer.createTransport({ host: other.host, port: other.port, secure: false, ignoreTLS: true });
      const send = (subject: string) =>
        t.sendMail({ from: 'a@sesame.test', to: 'c@example.org', subject, text: 'x' }).then(
          () => 250,
          (e: { responseCode?: number }) => e.responseCode,
        );
      expect([await send('1'), await send('2'), await send('3')]).toEqual([451, 451, 250]);
      expect(other.messages.map((m) => m.subject)).toEqual(['3']);
    } finally {
      await other.close();
    }
  });
});

describe('WebClient', () => {
  let server: http.Server;
  let base: string;
  const seen: { method: string; url: string; cookie: string; body: string; headers: http.IncomingHttpHeaders }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', cookie: req.headers.cookie ?? '', body, headers: req.headers });
        const url = new URL(req.url ?? '/', 'http://x');
        switch (`${req.method} ${url.pathname}`) {
          case 'GET /login':
            res.setHeader('set-cookie', [
              '__Host-sid=abc123; Path=/; Secure; HttpOnly; SameSite=Lax',
              'flash=hello; Path=/',
              'scoped=1; Path=/account',
            ]);
            res.setHeader('content-type', 'text/html; charset=utf-8');
            res.end(
              '<form method="get" action="/search"><input name="q"></form>' +
                '<form class="x" action="/login?next=%2Faccount&amp;lang=fr" METHOD="POST">' +
                '<input value="t&lt;k&#39;n&amp;&quot;" name="_csrf" type="hidden"/>' +
                '<input name="email"></form>',
            );
            return;
          case 'POST /login':
            res.statusCode = 303;
            res.setHeader('location', '/account');
            res.setHeader('set-cookie', 'flash=; Path=/; Max-Age=0');
            res.end();
            return;
          case 'GET /account':
            res.setHeader('set-cookie', 'old=1; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
            res.end(`account for ${req.headers.cookie ?? 'nobody'}`);
            return;
          default:
            res.statusCode = 404;
            res.end('not found');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('keeps cookies, honours Path and deletion, and follows redirects by hand', async () => {
    const web = new WebClient(base, { userAgent: 'TestAgent/1', forwardedFor: '203.0.113.7' });
    const page = await web.get('/login');
    expect(page.status).toBe(200);
    expect(web.cookie('__Host-sid')).toBe('abc123'); // Secure cookie kept on http://
    expect(web.cookie('flash')).toBe('hello');
    expect(seen.at(-1)?.headers['user-agent']).toBe('TestAgent/1');
    expect(seen.at(-1)?.headers['x-forwarded-for']).toBe('203.0.113.7');

    const posted = await web.post('/login', { email: 'a@b.c', role: ['x', 'y'] });
    expect(posted.status).toBe(303);
    expect(posted.location).toBe('/account');
    expect(seen.at(-1)?.cookie).toBe('__Host-sid=abc123; flash=hello');
    expect(seen.at(-1)?.body).toBe('email=a%40b.c&role=x&role=y');
    expect(seen.at(-1)?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(web.cookie('flash')).toBeUndefined(); // Max-Age=0 deleted it

    const account = await web.follow(posted);
    expect(account.url).toBe(`${base}/account`);
    expect(account.text).toBe('account for scoped=1; __Host-sid=abc123');
    expect(web.cookie('old')).toBeUndefined(); // Expires in the past

    const raw = await web.postRaw('/nowhere', Buffer.from('{"a":1}'), 'application/json');
    expect(raw.status).toBe(404);
    expect(seen.at(-1)?.body).toBe('{"a":1}');
    expect(seen.at(-1)?.cookie).toBe('__Host-sid=abc123'); // /account-scoped cookie not sent
  });

  it('csrf() and submit() post the token found in the page to the post form action', async () => {
    const web = new WebClient(base);
    const page = await web.get('/login');
    expect(web.csrf(page.text)).toBe(`t<k'n&"`);
    const res = await web.submit('/login', { email: 'alice@example.org' });
    expect(res.status).toBe(303);
    const post = seen.at(-1);
    expect(post?.method).toBe('POST');
    expect(post?.url).toBe('/login?next=%2Faccount&lang=fr');
    expect(new URLSearchParams(post?.body).get('_csrf')).toBe(`t<k'n&"`);
    expect(new URLSearchParams(post?.body).get('email')).toBe('alice@example.org');
    expect(post?.headers.origin).toBe(base);
    expect(() => web.csrf('<p>no form</p>')).toThrow(/_csrf/);
  });

  it('decodes HTML entities', () => {
    expect(decodeEntities('&amp;&quot;&#39;&lt;&gt;&#x41;&unknown;')).toBe(`&"'<>A&unknown;`);
  });
});
