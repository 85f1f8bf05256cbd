import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { createEstablishment } from '../../src/flows/establishments.ts';
import { loginBase, splitCsvLine } from '../../src/flows/import-users.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';

describe('CSV details', () => {
  it('splits quoted fields and derives logins from the e-mail local part', () => {
    expect(splitCsvLine('"Martin, Léa";lea@x.fr;"admin|member"', ';')).toEqual(['Martin, Léa', 'lea@x.fr', 'admin|member']);
    expect(splitCsvLine('"Il dit ""oui""",a@b.fr,member', ',')).toEqual(['Il dit "oui"', 'a@b.fr', 'member']);
    expect(splitCsvLine('"ouvert,a@b.fr,member', ',')).toBeNull();
    expect(loginBase('Jérôme.Dupont+rh@x.fr')).toBe('jerome.dupont.rh');
    expect(loginBase('a@x.fr')).toBe('utilisateura');
  });
});

/** Row counts: 10 000 on PGlite (in-process, the heavy case), fewer on the shared PostgreSQL server. */
const SIZES = { pglite: Number(process.env.IMPORT_ROWS ?? 10_000), postgres: 1_500 } as const;

describe.each(ENGINES)('user import on %s', (engine) => {
  let portal: Portal;
  let dir: string;
  let est: string;

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCommand(portal.ctx, argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  async function count(table: 'users' | 'outbox' | 'user_rights') {
    const row = await portal.ctx.db.selectFrom(table).select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  beforeAll(async () => {
    portal = await startPortal(engine);
    dir = await mkdtemp(join(tmpdir(), 'sesame-import-'));
    const created = await createEstablishment(portal.ctx, { name: 'Centre hospitalier' }, CLI_ORIGIN);
    if (!created.ok) throw new Error('establishment');
    est = created.id;
  }, 120_000);
  afterAll(async () => {
    await portal?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports every wrong row with its line number and imports nothing', async () => {
    const file = join(dir, 'bad.csv');
    await writeFile(file, [
      'nom,email,droits',
      'Alice Martin,alice@h.test.example,member',
      'Bob Sans Arobase,bob.h.test.example,member',
      'Chloé Petit,chloe@h.test.example,admin|superpouvoir',
      ',vide@h.test.example,member',
      'Alice Bis,ALICE@h.test.example,member',
    ].join('\n'));
    const users = await count('users');
    const result = await cli('user', 'import', file, '--establishment', est);
    expect(result.code).toBe(1);
    expect(result.err).toContain('ligne 3 : adresse e-mail invalide « bob.h.test.example »');
    expect(result.err).toContain('ligne 4 : droit inconnu « superpouvoir »');
    expect(result.err).toContain('ligne 5 : nom vide');
    expect(result.err).toContain('ligne 6 : adresse e-mail « alice@h.test.example » déjà présente ligne 2');
    expect(result.err).toContain("4 erreur(s) : rien n'a été importé");
    expect(await count('users')).toBe(users);
    expect((await cli('user', 'import', file)).code).toBe(2);
    expect((await cli('user', 'import', file, '--establishment', '00000000-0000-4000-8000-000000000000')).code).toBe(1);
  });

  it('accepts a BOM and « ; », quoted fields, grants rights to existing accounts, and is idempotent', async () => {
    await portal.createUser('deja.la', { email: 'deja@h.test.example' });
    const file = join(dir, 'semicolon.csv');
    await writeFile(file, '\uFEFFnom;email;droits\r\n"Durand; Claire";claire.durand@h.test.example;admin|member\r\nDéjà Là;Deja@h.test.example;patient-data\r\n\r\nLéo Ré;leo@h.test.example;member\r\n');
    const first = await cli('user', 'import', file, '--establishment', est);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).toContain('2 compte(s) créé(s), 1 compte(s) existant(s) complété(s), 0 déjà à jour');
    const claire = await portal.ctx.db.selectFrom('users').select(['id', 'login', 'display_name']).where('email', '=', 'claire.durand@h.test.example').executeTakeFirstOrThrow();
    expect(claire).toMatchObject({ login: 'claire.durand', display_name: 'Durand; Claire' });
    const rights = await portal.ctx.db.selectFrom('user_rights').select('right_name').where('user_id', '=', claire.id).orderBy('right_name').execute();
    expect(rights.map((r) => r.right_name)).toEqual(['admin', 'member']);
    const mail = await portal.mail('claire.durand@h.test.example', /mot de passe provisoire/);
    expect(mail.text).toMatch(/Mot de passe provisoire : \S+/);
    await portal.mail('claire.durand@h.test.example', /identifiant/i);
    const signIn = await portal.client().submit('/connexion', { identifiant: 'claire.durand', mot_de_passe: /Mot de passe provisoire : (\S+)/.exec(mail.text)![1]! });
    expect(signIn.location).toMatch(/^\/(premiere-connexion|verification)$/);

    const users = await count('users');
    const outbox = await count('outbox');
    const again = await cli('user', 'import', file, '--establishment', est);
    expect(again.code).toBe(0);
    expect(again.out).toContain('0 compte(s) créé(s), 0 compte(s) existant(s) complété(s), 3 déjà à jour');
    expect(again.out).toContain('déjà à jour');
    expect(await count('users')).toBe(users);
    expect(await count('outbox')).toBe(outbox);
  });

  it(`imports ${SIZES[engine]} rows in batches with bounded memory`, async () => {
    const rows = SIZES[engine];
    const file = join(dir, 'big.csv');
    const out = createWriteStream(file, { encoding: 'utf8' });
    out.write('nom,email,droits\n');
    for (let i = 0; i < rows; i++) {
      // Every 50th address shares its local part with another domain: logins must be made unique.
      const local = i % 50 === 0 ? `agent${i - (i % 100)}` : `agent${i}`;
      if (!out.write(`Agent ${i},${local}@site${i % 50 === 0 ? 'b' : 'a'}${i}.test.example,${i % 3 === 0 ? 'member|patient-data' : 'member'}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');

    const users = await count('users');
    const outbox = await count('outbox');
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().heapUsed); }, 20);
    const started = Date.now();
    const result = await cli('user', 'import', file, '--establishment', est);
    clearInterval(sampler);
    const ms = Date.now() - started;
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(result.out).toContain(`${rows} compte(s) créé(s)`);
    expect(await count('users')).toBe(users + rows);
    expect(await count('outbox')).toBe(outbox + 2 * rows);
    const logins = await portal.ctx.db.selectFrom('users').select('login').where('email', 'like', 'agent%').execute();
    expect(new Set(logins.map((l) => l.login)).size).toBe(rows);
    // The heap may hold: one batch of 500 rows with 1 000 rendered mails (~8 KB each, text + HTML) and
    // their query parameters, the e-mail set of pass 1 (~100 B per row), plus garbage the collector has
    // not reclaimed yet. Reading the whole 10 000-row file and its 20 000 mails at once would be ~160 MB.
    const growthMb = (peak - before) / 1024 / 1024;
    console.info(`import ${engine}: ${rows} rows in ${ms} ms, heap growth ${growthMb.toFixed(1)} MB`);
    expect(growthMb).toBeLessThan(96);
  }, 180_000);
});
