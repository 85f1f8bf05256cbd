import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { isValidFiness } from '../../src/domain/finess.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';

describe('FINESS numbers', () => {
  it('accepts real numbers and refuses a wrong control key or shape', () => {
    for (const ok of ['750712184', '760780239', '330781196', '75 071 218 4']) expect(isValidFiness(ok), ok).toBe(true);
    for (const bad of ['750712185', '75071218', '7507121840', 'ABCDEFGHI', '']) expect(isValidFiness(bad), bad).toBe(false);
  });
});

describe.each(ENGINES)('establishments, rights and staff roles on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCommand(portal.ctx, argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('creates an establishment, prints its id alone, and lists it', async () => {
    const created = await cli('establishment', 'create', '--name', 'CHU de Rouen', '--finess', '760780239');
    expect(created.code).toBe(0);
    expect(created.out).toMatch(/^[0-9a-f-]{36}$/);
    const list = await cli('establishment', 'list');
    expect(list.out).toContain(created.out);
    expect(list.out).toContain('CHU de Rouen');
    const audit = await portal.ctx.db.selectFrom('audit_events').selectAll().where('type', '=', 'establishment.created').execute();
    expect(audit.map((a) => a.establishment_id)).toContain(created.out);
  });

  it('refuses a bad FINESS with a message naming --finess, and a FINESS already used', async () => {
    const bad = await cli('establishment', 'create', '--name', 'Clinique', '--finess', '750712185');
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('--finess « 750712185 »');
    expect((await cli('establishment', 'create', '--name', 'AP-HP', '--finess', '750712184')).code).toBe(0);
    const twice = await cli('establishment', 'create', '--name', 'Autre', '--finess', '750712184');
    expect(twice.code).toBe(1);
    expect(twice.err).toContain('déjà');
    expect((await cli('establishment', 'create')).code).toBe(2);
  });

  it('creates a user with rights on an establishment; the admin right makes the second factor required', async () => {
    const id = (await cli('establishment', 'create', '--name', 'Centre hospitalier de Dieppe')).out;
    const created = await cli('user', 'create', '--login', 'adm.dieppe', '--email', 'adm@dieppe.test.example', '--name', 'Alex Martin', '--establishment', id, '--role', 'admin', '--role', 'patient-data');
    expect(created.code).toBe(0);
    const rights = await portal.ctx.db.selectFrom('user_rights').innerJoin('users', 'users.id', 'user_rights.user_id')
      .select(['right_name', 'establishment_id']).where('users.login', '=', 'adm.dieppe').orderBy('right_name').execute();
    expect(rights).toEqual([{ right_name: 'admin', establishment_id: id }, { right_name: 'patient-data', establishment_id: id }]);
    const temporary = /Mot de passe provisoire : (\S+)/.exec((await portal.mail('adm@dieppe.test.example', /mot de passe provisoire/)).text)![1]!;
    const signIn = await portal.client().submit('/connexion', { identifiant: 'adm.dieppe', mot_de_passe: temporary });
    expect(signIn.location).toBe('/verification');
  });

  it('refuses an unknown establishment or a wrong right, leaving no account behind', async () => {
    const unknown = await cli('user', 'create', '--login', 'nobody1', '--email', 'n1@test.example', '--name', 'N Un', '--establishment', '00000000-0000-4000-8000-000000000000');
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('--establishment');
    const id = (await cli('establishment', 'create', '--name', 'EHPAD Les Tilleuls')).out;
    const wrong = await cli('user', 'create', '--login', 'nobody2', '--email', 'n2@test.example', '--name', 'N Deux', '--establishment', id, '--role', 'superuser');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('--role « superuser »');
    const left = await portal.ctx.db.selectFrom('users').select('login').where('login', 'in', ['nobody1', 'nobody2']).execute();
    expect(left).toEqual([]);
  });

  it('grants the staff roles; support staff always pass a second factor', async () => {
    const user = await portal.activeUser('agent.support');
    expect((await cli('support', 'agent.support')).code).toBe(0);
    expect((await cli('support', 'agent.support')).out).toContain('déjà');
    expect((await cli('platform-admin', 'inconnu')).code).toBe(1);
    expect((await cli('support')).code).toBe(2);
    const signIn = await portal.client().submit('/connexion', { identifiant: 'agent.support', mot_de_passe: user.password });
    expect(signIn.location).toBe('/verification');
  });

  it('keeps the audit log append-only: the database refuses UPDATE and DELETE', async () => {
    const before = await portal.ctx.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    await expect(sql`update audit_events set type = 'forged'`.execute(portal.ctx.db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_events`.execute(portal.ctx.db)).rejects.toThrow(/append-only/);
    const after = await portal.ctx.db.selectFrom('audit_events').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(Number(after.n)).toBe(Number(before.n));
    expect(await portal.ctx.db.selectFrom('audit_events').select('id').where('type', '=', 'forged').execute()).toEqual([]);
  });
});
