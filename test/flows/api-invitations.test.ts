import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { createEstablishment } from '../../src/flows/establishments.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';

describe.each(ENGINES)('API invitations on %s', (engine) => {
  let portal: Portal;
  let estA: string;
  let estB: string;
  let tokenA: string;
  let tokenB: string;

  async function token(name: string, establishment: string): Promise<string> {
    const out: string[] = [];
    const code = await runCommand(portal.ctx, ['api-token', 'create', '--name', name, '--establishment', establishment], { out: (l) => out.push(l), err: () => {} });
    expect(code).toBe(0);
    return out[0]!;
  }

  async function api(method: string, path: string, bearer: string, body?: unknown) {
    const res = await fetch(`${portal.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  beforeAll(async () => {
    portal = await startPortal(engine);
    const a = await createEstablishment(portal.ctx, { name: 'Clinique A' }, CLI_ORIGIN);
    const b = await createEstablishment(portal.ctx, { name: 'Hôpital B' }, CLI_ORIGIN);
    if (!a.ok || !b.ok) throw new Error('establishments');
    estA = a.id;
    estB = b.id;
    tokenA = await token('SIRH A', estA);
    tokenB = await token('SIRH B', estB);
  });
  afterAll(async () => { await portal?.close(); });

  it('invites a new person by mail, lists the invitation, and cancels it', async () => {
    const sent = await api('POST', `/establishments/${estA}/invitations`, tokenA, { email: 'nouvelle@a.test.example', name: 'Noa Nouvelle', rights: ['member', 'patient-data'] });
    expect(sent.status).toBe(201);
    expect(sent.json).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), existingUser: false });
    const mail = await portal.mail('nouvelle@a.test.example', /invitation/);
    expect(mail.text).toContain('/invitation/');
    const list = await api('GET', `/establishments/${estA}/invitations`, tokenA);
    expect(list.json.invitations).toEqual([expect.objectContaining({ id: sent.json.id, email: 'nouvelle@a.test.example', rights: ['patient-data', 'member'], existingUser: false, expired: false })]);
    const audit = await portal.ctx.db.selectFrom('audit_events').select(['details', 'establishment_id']).where('type', '=', 'invitation.sent').execute();
    expect(audit.some((e) => e.establishment_id === estA && (e.details as { apiToken?: string }).apiToken)).toBe(true);
    expect((await api('DELETE', `/establishments/${estA}/invitations/${sent.json.id}`, tokenA)).status).toBe(204);
    expect((await api('GET', `/establishments/${estA}/invitations`, tokenA)).json.invitations).toEqual([]);
    expect((await api('DELETE', `/establishments/${estA}/invitations/${sent.json.id}`, tokenA)).status).toBe(404);
  });

  it('keeps invitations within the token’s establishments: another establishment answers 404', async () => {
    const sent = await api('POST', `/establishments/${estA}/invitations`, tokenA, { email: 'isolee@a.test.example', name: 'Iso Lée', rights: ['member'] });
    expect(sent.status).toBe(201);
    expect((await api('GET', `/establishments/${estA}/invitations`, tokenB)).status).toBe(404);
    expect((await api('POST', `/establishments/${estA}/invitations`, tokenB, { email: 'x@b.test.example', name: 'X', rights: ['member'] })).status).toBe(404);
    expect((await api('DELETE', `/establishments/${estA}/invitations/${sent.json.id}`, tokenB)).status).toBe(404);
    // Through B's own establishment, A's invitation does not exist either.
    expect((await api('DELETE', `/establishments/${estB}/invitations/${sent.json.id}`, tokenB)).status).toBe(404);
    expect((await api('GET', `/establishments/${estA}/invitations`, tokenA)).json.invitations.map((i: { id: string }) => i.id)).toContain(sent.json.id);
  });

  it('refuses bad input with 400 and French messages per field, and describes the routes in OpenAPI', async () => {
    const bad = await api('POST', `/establishments/${estA}/invitations`, tokenA, { email: 'pas-une-adresse', name: 'Bad', rights: ['member'] });
    expect(bad.status).toBe(400);
    expect(bad.json.error.fields[0].field).toBe('email');
    expect((await api('POST', `/establishments/${estA}/invitations`, tokenA, { email: 'a@b.test.example', name: 'A', rights: ['owner'] })).status).toBe(400);
    const doc = await (await fetch(`${portal.url}/api/v1/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>> };
    const paths = Object.keys(doc.paths);
    expect(paths.some((p) => /\/establishments\/\{id\}\/invitations$/.test(p))).toBe(true);
    expect(paths.some((p) => /\/establishments\/\{id\}\/invitations\/\{invitationId\}$/.test(p))).toBe(true);
  });
});
