import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { audit, type AuditInput } from '../../src/store/audit.ts';
import { createSession } from '../../src/store/sessions.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';
import type { WebClient } from '../support/http.ts';

/**
 * « Journal d'audit » (GET /audit), its CSV export (web and CLI) and the retention purge.
 * Staff sign-in: support always passes a second factor; to keep these tests about the log, the staff
 * session is created directly with createSession (scope 'full') and its cookie sent on a WebClient.
 * Markers: each hand-made event carries a distinctive `ip`, which shows in the page and in the CSV.
 */
describe.each(ENGINES)('audit log on %s', (engine) => {
  let portal: Portal;
  let staff: WebClient;
  let staffId: string;
  let u1: { userId: string; login: string; email: string };
  let u2: { userId: string; login: string };
  let establishmentId: string;

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCommand(portal.ctx, argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }
  const event = (at: string, e: Omit<AuditInput, 'origin'> & { ip: string; ua?: string }) =>
    audit(portal.ctx.db, new Date(at), { ...e, origin: { ip: e.ip, userAgent: e.ua ?? 'Mozilla/5.0 (Windows NT 10.0) Firefox/128.0' } });

  beforeAll(async () => {
    portal = await startPortal(engine);
    const s = await portal.createUser('agent.audit', { roles: ['support'] });
    staffId = s.userId;
    await portal.ctx.db.updateTable('users').set({ temp_password_expires_at: null }).where('id', '=', staffId).execute();
    const session = await createSession(portal.ctx.db, staffId, 'full', { ip: '127.0.0.1', userAgent: 'test' }, portal.clock.now(),
      { idleMs: portal.config.sessionIdleTtlMs, maxMs: portal.config.sessionMaxTtlMs }, 'email');
    staff = portal.client({ headers: { cookie: `__Host-sesame=${session.token}` } });
    u1 = await portal.createUser('audit.un');
    u2 = await portal.createUser('audit.deux');
    establishmentId = (await cli('establishment', 'create', '--name', 'Clinique du Journal')).out;
    // Around the Paris midnights of 10 March (CET, UTC+1) and 1 July (CEST, UTC+2).
    await event('2026-03-09T22:59:59Z', { type: 'support.action', userId: u1.userId, ip: 'mk-A' });
    await event('2026-03-09T23:00:00Z', { type: 'rights.granted', userId: u1.userId, actorId: u2.userId, establishmentId, ip: 'mk-B' });
    await event('2026-06-30T21:59:59Z', { type: 'support.action', userId: u1.userId, ip: 'mk-C' });
    await event('2026-06-30T22:00:00Z', { type: 'account.enabled', userId: u1.userId, ip: 'mk-D' });
  });
  afterAll(async () => { await portal?.close(); });

  async function markers(query: string): Promise<string[]> {
    const res = await staff.get(`/audit${query}`);
    expect(res.status).toBe(200);
    return [...res.text.matchAll(/<td>(mk-[A-D])<\/td>/g)].map((m) => m[1]!).sort();
  }

  it('is for support and platform admins only: anyone else gets a 404', async () => {
    const user = await portal.activeUser('audit.curieux');
    expect((await user.client.get('/audit')).status).toBe(404);
    expect((await user.client.get('/audit/export.csv')).status).toBe(404);
    expect((await portal.client().get('/audit')).status).toBe(404);
    const page = await staff.get('/audit');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Journal d’audit');
    expect(page.text).toContain('Exporter en CSV');
  });

  it('filters by user (login or e-mail, as subject or actor), establishment and type', async () => {
    expect(await markers('?utilisateur=audit.un')).toEqual(['mk-A', 'mk-B', 'mk-C', 'mk-D']);
    expect(await markers(`?utilisateur=${encodeURIComponent(u1.email)}`)).toEqual(['mk-A', 'mk-B', 'mk-C', 'mk-D']);
    expect(await markers('?utilisateur=audit.deux')).toEqual(['mk-B']);
    expect(await markers(`?etablissement=${establishmentId}`)).toEqual(['mk-B']);
    expect(await markers('?utilisateur=audit.un&type=support.action')).toEqual(['mk-A', 'mk-C']);
  });

  it('filters by period in Europe/Paris days, both bounds included', async () => {
    expect(await markers('?utilisateur=audit.un&du=2026-03-10')).toEqual(['mk-B', 'mk-C', 'mk-D']);
    expect(await markers('?utilisateur=audit.un&au=2026-03-09')).toEqual(['mk-A']);
    expect(await markers('?utilisateur=audit.un&du=2026-03-10&au=2026-06-30')).toEqual(['mk-B', 'mk-C']);
    expect(await markers('?utilisateur=audit.un&du=2026-07-01&au=2026-07-01')).toEqual(['mk-D']);
  });

  it('refuses bad filters with a 400 naming the field', async () => {
    const cases: [string, string][] = [
      ['?du=2026-02-30', '« Du » doit être une date valide'],
      ['?au=hier', '« Au » doit être une date valide'],
      ['?du=2026-03-10&au=2026-03-09', '« Au » doit être postérieure'],
      ['?utilisateur=personne.inconnue', '« Utilisateur » : aucun compte'],
      ['?type=forged.type', '« Type d’événement » : ce type'],
      ['?etablissement=pas-un-uuid', '« Établissement »'],
    ];
    for (const [query, message] of cases) {
      const res = await staff.get(`/audit${query}`);
      expect(res.status, query).toBe(400);
      expect(res.text, query).toContain(message);
      expect(res.text, query).toContain('aria-invalid="true"');
      expect((await staff.get(`/audit/export.csv${query}`)).status, query).toBe(400);
    }
    expect((await staff.get('/audit?avant=abc')).status).toBe(400);
  });

  it('paginates by keyset and keeps the filters in the next-page and export links', async () => {
    const u3 = await portal.createUser('audit.pages');
    for (let i = 0; i < 60; i++) await event(`2026-02-01T10:00:${String(i).padStart(2, '0')}Z`, { type: 'support.action', userId: u3.userId, ip: `pg-${i}` });
    const first = await staff.get('/audit?utilisateur=audit.pages&type=support.action');
    const ips = (t: string) => [...t.matchAll(/<td>(pg-\d+)<\/td>/g)].map((m) => m[1]!);
    expect(ips(first.text)).toHaveLength(50);
    expect(ips(first.text)[0]).toBe('pg-59');
    expect(first.text).toContain('href="/audit/export.csv?utilisateur=audit.pages&amp;type=support.action"');
    const next = /href="(\/audit\?[^"]*avant=\d+[^"]*)"/.exec(first.text)![1]!.replace(/&amp;/g, '&');
    expect(next).toContain('utilisateur=audit.pages');
    const second = await staff.get(next);
    expect(ips(second.text)).toEqual(Array.from({ length: 10 }, (_, i) => `pg-${9 - i}`));
    expect(second.text).not.toMatch(/avant=/);
  });

  it('exports CSV (BOM, « ; », header), escapes quotes and defuses formulas, and audits the export', async () => {
    await event('2026-04-01T08:00:00Z', { type: 'login.failure', subject: '=HYPERLINK("http://evil")', ip: '+33 1', ua: 'Mozilla "quoted"; x\nnext', details: { note: '@SUM(A1)' } });
    const res = await staff.get('/audit/export.csv?type=login.failure&du=2026-04-01&au=2026-04-01');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
    expect(res.headers.get('content-disposition')).toMatch(/attachment; filename="journal-audit-\d{4}-\d{2}-\d{2}\.csv"/);
    const raw = Buffer.from(await (await fetch(`${portal.url}/audit/export.csv?type=login.failure&du=2026-04-01&au=2026-04-01`, { headers: { cookie: `__Host-sesame=${staffCookie()}` } })).arrayBuffer());
    expect([...raw.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = res.text.replace(/^\uFEFF/, '').split('\r\n');
    expect(lines[0]).toBe('at;type;utilisateur;acteur;établissement;ip;navigateur;détails');
    expect(lines[1]).toBe(`2026-04-01T08:00:00.000Z;login.failure;"'=HYPERLINK(""http://evil"")";;;'+33 1;"Mozilla ""quoted""; x\nnext";{""note"":""@SUM(A1)""}`.replace('{""note""', '"{""note""').replace('""@SUM(A1)""}', '""@SUM(A1)""}"'));
    expect(lines).toHaveLength(3); // header, one event, final empty string
    const exported = await portal.ctx.db.selectFrom('audit_events').select(['actor_id', 'details']).where('type', '=', 'audit.exported').orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(exported.actor_id).toBe(staffId);
    expect(exported.details).toMatchObject({ via: 'web', filters: { type: 'login.failure', du: '2026-04-01', au: '2026-04-01' } });
  });

  let staffToken = '';
  function staffCookie(): string {
    return staffToken;
  }
  beforeAll(async () => {
    const session = await createSession(portal.ctx.db, staffId, 'full', { ip: '127.0.0.1', userAgent: 'test' }, portal.clock.now(),
      { idleMs: portal.config.sessionIdleTtlMs, maxMs: portal.config.sessionMaxTtlMs }, 'email');
    staffToken = session.token;
  });

  it('streams a large export page by page with bounded memory', async () => {
    const u4 = await portal.createUser('audit.volume');
    const n = 5000;
    // 5 000 events of ~4 kB each (≈ 20 MB of CSV), made in one statement.
    await sql`insert into audit_events (at, type, user_id, ip, user_agent, details)
      select timestamptz '2026-05-01 00:00:00+00' + (g * interval '1 second'), 'support.action', ${u4.userId}::uuid, 'vol-' || g, 'ua',
             jsonb_build_object('n', g, 'pad', repeat('x', 4000))
      from generate_series(1, ${n}) as g`.execute(portal.ctx.db);
    const res = await fetch(`${portal.url}/audit/export.csv?utilisateur=audit.volume&type=support.action`, { headers: { cookie: `__Host-sesame=${staffCookie()}` } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    // A full collection before each sample, so that we measure what is alive, not garbage not yet collected.
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const start = process.memoryUsage().heapUsed;
    let peak = 0;
    let bytes = 0;
    let chunks = 0;
    let lines = 0;
    let tail = '';
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks++;
      bytes += value.byteLength;
      const text = tail + decoder.decode(value, { stream: true });
      const parts = text.split('\r\n');
      tail = parts.pop()!;
      lines += parts.length;
      if (chunks % 10 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - start);
      }
    }
    console.log(`[${engine}] export: ${bytes} bytes in ${chunks} chunks, peak heap growth ${peak}`);
    expect(lines).toBe(n + 1);
    expect(bytes).toBeGreaterThan(n * 4000);
    expect(chunks).toBeGreaterThan(5);
    // Server and client share this process. Holding the export whole would keep alive the CSV (bytes)
    // plus the rows it came from, i.e. over 2 × bytes; streamed, what is alive is one page of 1 000 rows
    // (≈ 4 MB as rows, again as CSV) and the socket's buffers. We ask for less than the CSV's own
    // size, which only a streamed export meets (the measured peak is printed above).
    expect(peak).toBeLessThan(bytes);
  }, 60_000);

  it('exports through the CLI, to stdout or a file, with the same format and filters', async () => {
    const out = await cli('audit', 'export', '--user', 'audit.un', '--type', 'support.action');
    expect(out.code).toBe(0);
    expect(out.out.startsWith('\uFEFFat;type;utilisateur;acteur;établissement;ip;navigateur;détails\r')).toBe(true);
    expect(out.out).toContain(';mk-A;');
    expect(out.out).toContain(';mk-C;');
    expect(out.out).not.toContain('mk-B');
    const dated = await cli('audit', 'export', '--user', 'audit.un', '--from', '2026-07-01');
    expect(dated.out).toContain('mk-D');
    expect(dated.out).not.toContain('mk-C');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sesame-audit-')), 'journal.csv');
    const toFile = await cli('audit', 'export', '--user', 'audit.deux', '--output', file);
    expect(toFile.code).toBe(0);
    const content = fs.readFileSync(file, 'utf8');
    expect(content.startsWith('\uFEFFat;type;')).toBe(true);
    expect(content).toContain(';mk-B;');
    expect((await cli('audit', 'export', '--from', '2026-13-01')).err).toContain('--from « 2026-13-01 »');
    expect((await cli('audit', 'export', '--from', '2026-13-01')).code).toBe(1);
    expect((await cli('audit', 'export', '--user', 'nobody.here')).code).toBe(1);
    expect((await cli('audit', 'export', '--bogus')).code).toBe(2);
    expect((await cli('audit', 'nothing')).code).toBe(2);
    const help = await cli('audit', 'export', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('sesame audit export');
    expect((await cli('audit', '--help')).out).toContain('sesame audit purge');
    const cliExport = await portal.ctx.db.selectFrom('audit_events').select('details').where('type', '=', 'audit.exported').orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(cliExport.details).toMatchObject({ via: 'cli' });
  });

  it('purges only events older than the retention, audits the purge, and stays append-only otherwise', async () => {
    // The clock reads 2026-01-15; the retention is 365 days.
    await event('2024-06-01T12:00:00Z', { type: 'support.action', userId: u1.userId, ip: 'old-1' });
    await event('2025-01-10T12:00:00Z', { type: 'support.action', userId: u1.userId, ip: 'old-2' });
    await event('2025-06-01T12:00:00Z', { type: 'support.action', userId: u1.userId, ip: 'recent-1' });
    const ips = async () => (await portal.ctx.db.selectFrom('audit_events').select('ip').where('ip', 'in', ['old-1', 'old-2', 'recent-1']).execute()).map((r) => r.ip).sort();

    const dry = await cli('audit', 'purge', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/^2 événement\(s\)/);
    expect(await ips()).toEqual(['old-1', 'old-2', 'recent-1']);

    const purge = await cli('audit', 'purge');
    expect(purge.code).toBe(0);
    expect(purge.out).toMatch(/^2 événement\(s\) antérieur\(s\) au 2025-01-15 supprimé\(s\)/);
    expect(await ips()).toEqual(['recent-1']);
    const purged = await portal.ctx.db.selectFrom('audit_events').select(['details', 'ip']).where('type', '=', 'audit.purged').execute();
    expect(purged).toHaveLength(1);
    expect(purged[0]!.details).toMatchObject({ count: 2 });
    expect(purged[0]!.ip).toBe('cli');

    // The purge's permission ended with its transaction.
    await expect(sql`delete from audit_events where ip = 'recent-1'`.execute(portal.ctx.db)).rejects.toThrow(/append-only/);
    await expect(sql`update audit_events set type = 'forged' where ip = 'recent-1'`.execute(portal.ctx.db)).rejects.toThrow(/append-only/);
    await expect(portal.ctx.db.transaction().execute(async (trx) => {
      await sql`set local sesame.audit_purge = 'on'`.execute(trx);
      await sql`update audit_events set type = 'forged' where ip = 'recent-1'`.execute(trx);
    })).rejects.toThrow(/append-only/);
    expect(await ips()).toEqual(['recent-1']);
    expect((await cli('audit', 'purge', '--help')).out).toContain('SESAME_AUDIT_RETENTION');
  });
});
