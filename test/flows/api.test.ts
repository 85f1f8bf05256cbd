import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { createApiToken } from '../../src/flows/api-tokens.ts';
import { createEstablishment } from '../../src/flows/establishments.ts';
import { createMember } from '../../src/flows/establishment-users.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';

describe.each(ENGINES)('API /api/v1 on %s', (engine) => {
  let portal: Portal;
  let estA: string;
  let estB: string;
  let tokenA: string;
  let tokenAId: string;
  let userB: string;

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCommand(portal.ctx, argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  async function api(method: string, path: string, opts: { token?: string | null; body?: unknown } = {}) {
    const token = opts.token === undefined ? tokenA : opts.token;
    const res = await fetch(`${portal.url}/api/v1${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(opts.body !== undefined ? { body: typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type') ?? '', json: text ? JSON.parse(text) : null };
  }

  beforeAll(async () => {
    portal = await startPortal(engine);
    const a = await createEstablishment(portal.ctx, { name: 'Clinique A' }, CLI_ORIGIN);
    const b = await createEstablishment(portal.ctx, { name: 'Hôpital B' }, CLI_ORIGIN);
    if (!a.ok || !b.ok) throw new Error('establishments');
    estA = a.id;
    estB = b.id;
    const created = await cli('api-token', 'create', '--name', 'SIRH A', '--establishment', estA);
    expect(created.code).toBe(0);
    tokenA = created.out;
    expect(tokenA).toMatch(/^[A-Za-z0-9_-]{43}$/);
    tokenAId = /identifiant ([0-9a-f-]{36})/.exec(created.err)![1]!;
    const member = await createMember(portal.ctx, estB, { login: 'b.user', email: 'b.user@b.test.example', name: 'Bea B', rights: ['member'] }, { origin: CLI_ORIGIN, actorId: null });
    if (!member.ok) throw new Error('member');
    userB = member.userId;
  });
  afterAll(async () => { await portal?.close(); });

  it('stores only the hash, lists tokens without their value, and refuses missing options', async () => {
    const rows = await portal.ctx.db.selectFrom('api_tokens').selectAll().execute();
    expect(rows.map((r) => r.token_hash)).not.toContain(tokenA);
    const list = await cli('api-token', 'list');
    expect(list.out).toContain('SIRH A');
    expect(list.out).not.toContain(tokenA);
    expect((await cli('api-token', 'create', '--name', 'x')).code).toBe(2);
    expect((await cli('api-token', 'create', '--name', 'x', '--establishment', '00000000-0000-4000-8000-000000000000')).code).toBe(1);
    expect((await cli('api-token', 'revoke', '00000000-0000-4000-8000-000000000000')).code).toBe(1);
    expect((await cli('api-token', 'frobnicate')).code).toBe(2);
    const help = await cli('api-token', 'create', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('une seule fois');
    expect((await cli('user', 'import', '--help')).out).toContain('nom,email,droits');
    const audit = await portal.ctx.db.selectFrom('audit_events').select(['details']).where('type', '=', 'api-token.created').execute();
    expect(audit.some((e) => (e.details as { apiToken?: string }).apiToken === tokenAId)).toBe(true);
  });

  it('answers 401 in JSON without a token, with a bad one, and with a revoked one', async () => {
    for (const token of [null, 'not-a-token', 'A'.repeat(43)]) {
      const res = await api('GET', '/establishments', { token });
      expect(res.status).toBe(401);
      expect(res.type).toContain('application/json');
      expect(res.json.error.code).toBe('unauthorized');
    }
    const other = await cli('api-token', 'create', '--name', 'Temporaire', '--establishment', estA);
    expect((await api('GET', '/establishments', { token: other.out })).status).toBe(200);
    const id = /identifiant ([0-9a-f-]{36})/.exec(other.err)![1]!;
    expect((await cli('api-token', 'revoke', id)).code).toBe(0);
    expect((await cli('api-token', 'revoke', id)).out).toContain('déjà');
    expect((await api('GET', '/establishments', { token: other.out })).status).toBe(401);
    expect((await api('POST', `/establishments/${estA}/users`, { token: other.out, body: { login: 'x1', email: 'x1@a.test.example', name: 'X', rights: ['member'] } })).status).toBe(401);
  });

  it('keeps a token inside its establishments: everything of B answers 404', async () => {
    const list = await api('GET', '/establishments');
    expect(list.status).toBe(200);
    expect(list.json.establishments.map((e: { id: string }) => e.id)).toEqual([estA]);
    const body = { login: 'intrus', email: 'intrus@b.test.example', name: 'Intrus', rights: ['admin'] };
    const attempts = [
      await api('GET', `/establishments/${estB}/users`),
      await api('POST', `/establishments/${estB}/users`, { body }),
      await api('PUT', `/establishments/${estB}/users/${userB}/rights`, { body: { rights: ['admin'] } }),
      await api('DELETE', `/establishments/${estB}/users/${userB}`),
      await api('GET', `/establishments/${estB}/audit`),
      // B's user through A's establishment: not a user of A, so unknown.
      await api('PUT', `/establishments/${estA}/users/${userB}/rights`, { body: { rights: ['admin'] } }),
      await api('DELETE', `/establishments/${estA}/users/${userB}`),
      await api('GET', '/establishments/00000000-0000-4000-8000-000000000000/users'),
      await api('GET', '/establishments/not-a-uuid/users'),
      await api('GET', '/nothing-here'),
    ];
    for (const res of attempts) {
      expect(res.status).toBe(404);
      expect(res.json.error.code).toBe('not-found');
    }
    const rights = await portal.ctx.db.selectFrom('user_rights').select(['right_name', 'establishment_id']).where('user_id', '=', userB).execute();
    expect(rights).toEqual([{ right_name: 'member', establishment_id: estB }]);
    expect(await portal.ctx.db.selectFrom('users').select('id').where('login', '=', 'intrus').execute()).toEqual([]);
    const usersA = await api('GET', `/establishments/${estA}/users`);
    expect(usersA.json.users.map((u: { id: string }) => u.id)).not.toContain(userB);
  });

  it('creates a user (two mails), changes their rights, removes them; all audited with the token id', async () => {
    const created = await api('POST', `/establishments/${estA}/users`, { body: { login: 'Dr.Durand', email: 'durand@a.test.example', name: 'Claire Durand', rights: ['patient-data', 'member'] } });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    const identifier = await portal.mail('durand@a.test.example', /identifiant/i);
    expect(identifier.text).toContain('dr.durand');
    const temporary = await portal.mail('durand@a.test.example', /mot de passe provisoire/);
    expect(temporary.text).toMatch(/Mot de passe provisoire : \S+/);

    const again = await api('POST', `/establishments/${estA}/users`, { body: { login: 'dr.durand', email: 'DURAND@a.test.example', name: 'Claire Durand', rights: ['member'] } });
    expect(again.status).toBe(409);
    expect(again.json.error.fields.map((f: { field: string }) => f.field).sort()).toEqual(['email', 'login']);

    const listed = await api('GET', `/establishments/${estA}/users?q=durand`);
    expect(listed.json.total).toBe(1);
    expect(listed.json.users[0]).toEqual({ id, login: 'dr.durand', name: 'Claire Durand', email: 'durand@a.test.example', rights: ['member', 'patient-data'], status: 'temporary-password' });
    expect((await api('GET', `/establishments/${estA}/users?q=personne`)).json.users).toEqual([]);

    const changed = await api('PUT', `/establishments/${estA}/users/${id}/rights`, { body: { rights: ['admin'] } });
    expect(changed.status).toBe(200);
    expect(changed.json.rights).toEqual(['admin']);
    expect((await api('GET', `/establishments/${estA}/users?q=durand`)).json.users[0].rights).toEqual(['admin']);

    const removed = await api('DELETE', `/establishments/${estA}/users/${id}`);
    expect(removed.status).toBe(204);
    expect(await portal.ctx.db.selectFrom('users').select('id').where('id', '=', id).execute()).toEqual([]);
    expect((await api('DELETE', `/establishments/${estA}/users/${id}`)).status).toBe(404);

    const events = await api('GET', `/establishments/${estA}/audit?page=1`);
    expect(events.status).toBe(200);
    const types = events.json.events.map((e: { type: string }) => e.type);
    for (const t of ['account.created', 'rights.granted', 'rights.changed', 'account.removed-from-establishment', 'account.deleted']) expect(types).toContain(t);
    for (const e of events.json.events.filter((x: { type: string }) => x.type !== 'establishment.created')) {
      expect(e.actorId).toBeNull();
      expect(e.details.apiToken).toBe(tokenAId);
    }
    const filtered = await api('GET', `/establishments/${estA}/audit?type=rights.changed&from=2000-01-01T00:00:00Z`);
    expect(filtered.json.events.map((e: { type: string }) => e.type)).toEqual(['rights.changed']);
    expect(filtered.json.events[0].details).toMatchObject({ before: ['member', 'patient-data'], after: ['admin'] });
  });

  it('keeps an identity that still belongs to another establishment or holds a staff role', async () => {
    const tokenAB = (await cli('api-token', 'create', '--name', 'AB', '--establishment', estA, '--establishment', estB)).out;
    const created = await api('POST', `/establishments/${estA}/users`, { token: tokenAB, body: { login: 'multi', email: 'multi@a.test.example', name: 'Multi Site', rights: ['member'] } });
    const id = created.json.id as string;
    const added = await api('PUT', `/establishments/${estB}/users/${id}/rights`, { token: tokenAB, body: { rights: ['member'] } });
    expect(added.status).toBe(404); // rights are replaced where the user already is; joining B is not this endpoint
    await portal.ctx.db.insertInto('user_rights').values({ user_id: id, establishment_id: estB, right_name: 'member', granted_at: new Date(), granted_by: null }).execute();
    expect((await api('DELETE', `/establishments/${estA}/users/${id}`, { token: tokenAB })).status).toBe(204);
    expect(await portal.ctx.db.selectFrom('users').select('id').where('id', '=', id).execute()).toHaveLength(1);
  });

  it('answers 400 with French field errors; unknown fields and bad JSON are refused', async () => {
    const missing = await api('POST', `/establishments/${estA}/users`, { body: { login: 'sans.mail', name: 'Sans Mail', rights: ['member'] } });
    expect(missing.status).toBe(400);
    expect(missing.json.error.fields).toEqual([{ field: 'email', message: expect.stringContaining('obligatoire') }]);
    const extra = await api('POST', `/establishments/${estA}/users`, { body: { login: 'x2', email: 'x2@a.test.example', name: 'X', rights: ['member'], roles: ['platform-admin'] } });
    expect(extra.status).toBe(400);
    expect(extra.json.error.fields[0].field).toBe('roles');
    const badRight = await api('POST', `/establishments/${estA}/users`, { body: { login: 'x3', email: 'x3@a.test.example', name: 'X', rights: ['root'] } });
    expect(badRight.status).toBe(400);
    expect(badRight.json.error.fields[0].field).toBe('rights');
    const long = await api('POST', `/establishments/${estA}/users`, { body: { login: 'x4', email: 'x4@a.test.example', name: 'N'.repeat(201), rights: ['member'] } });
    expect(long.json.error.fields[0]).toEqual({ field: 'name', message: expect.stringContaining('trop long') });
    const flow = await api('POST', `/establishments/${estA}/users`, { body: { login: 'Pas Valide', email: 'pas-une-adresse', name: 'X', rights: ['member'] } });
    expect(flow.status).toBe(400);
    expect(flow.json.error.fields.map((f: { field: string }) => f.field)).toEqual(['login', 'email']);
    expect(flow.json.error.fields[1].message).toContain('adresse e-mail');
    const badJson = await api('POST', `/establishments/${estA}/users`, { body: '{"login":' });
    expect(badJson.status).toBe(400);
    expect(badJson.json.error.code).toBe('bad-request');
    const emptyRights = await api('PUT', `/establishments/${estA}/users/${userB}/rights`, { body: { rights: [] } });
    expect([400, 404]).toContain(emptyRights.status);
    const badPage = await api('GET', `/establishments/${estA}/users?page=0`);
    expect(badPage.status).toBe(400);
    expect((await api('GET', `/establishments/${estA}/audit?from=hier`)).status).toBe(400);
    const big = await api('POST', `/establishments/${estA}/users`, { body: { login: 'x5', email: 'x5@a.test.example', name: 'X'.repeat(40_000), rights: ['member'] } });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('too-large');
  });

  it('paginates the users of an establishment', async () => {
    const est = await createEstablishment(portal.ctx, { name: 'Grand centre' }, CLI_ORIGIN);
    if (!est.ok) throw new Error('est');
    const token = (await cli('api-token', 'create', '--name', 'Pages', '--establishment', est.id)).out;
    await portal.ctx.db.insertInto('users').values(Array.from({ length: 55 }, (_, i) => ({
      id: crypto.randomUUID(), login: `p${String(i).padStart(3, '0')}`, email: `p${i}@g.test.example`, display_name: `P ${i}`, created_at: new Date(), updated_at: new Date(),
    }))).execute();
    const ids = await portal.ctx.db.selectFrom('users').select('id').where('login', 'like', 'p0%').execute();
    await portal.ctx.db.insertInto('user_rights').values(ids.map((u) => ({ user_id: u.id, establishment_id: est.id, right_name: 'member' as const, granted_at: new Date(), granted_by: null }))).execute();
    const first = await api('GET', `/establishments/${est.id}/users`, { token });
    expect(first.json).toMatchObject({ page: 1, perPage: 50, total: 55 });
    expect(first.json.users).toHaveLength(50);
    const second = await api('GET', `/establishments/${est.id}/users?page=2`, { token });
    expect(second.json.users.map((u: { login: string }) => u.login)).toEqual(['p050', 'p051', 'p052', 'p053', 'p054']);
  });

  it('publishes an OpenAPI 3.1 document naming every route and the bearer scheme', async () => {
    const res = await fetch(`${portal.url}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = JSON.parse(await res.text());
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/api/v1/establishments', '/api/v1/establishments/{id}/audit',
      '/api/v1/establishments/{id}/invitations', '/api/v1/establishments/{id}/invitations/{invitationId}', '/api/v1/establishments/{id}/users',
      '/api/v1/establishments/{id}/users/{userId}', '/api/v1/establishments/{id}/users/{userId}/rights', '/api/v1/openapi.json',
    ]);
    expect(Object.keys(doc.paths['/api/v1/establishments/{id}/users']).sort()).toEqual(['get', 'post']);
    expect(doc.paths['/api/v1/establishments/{id}/users'].post.requestBody.content['application/json'].schema.additionalProperties).toBe(false);
    expect(doc.paths['/api/v1/establishments/{id}/users/{userId}/rights'].put.parameters.map((p: { name: string }) => p.name)).toEqual(['id', 'userId']);
  });
});
