import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntities } from '../support/http.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';
import { START_TIMEOUT } from './auth-helpers.ts';
import { adminOf, establishment, grant, invitationsOf, inviteNew, memberOf, postFrom } from './admin-helpers.ts';

describe.each(ENGINES)('account administration on %s', (engine) => {
  let portal: Portal;
  let estA: string;
  let estB: string;
  let adminA: Awaited<ReturnType<typeof adminOf>>;
  let adminB: Awaited<ReturnType<typeof adminOf>>;
  beforeAll(async () => {
    portal = await startPortal(engine);
    estA = await establishment(portal, 'Hôpital A');
    estB = await establishment(portal, 'Hôpital B');
    adminA = await adminOf(portal, 'adm.a', [estA]);
    adminB = await adminOf(portal, 'adm.b', [estB]);
  }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });

  const listA = () => `/compte/utilisateurs?etablissement=${estA}`;

  it('lists the people of the establishment with their status and « Gérer », searchable', async () => {
    const member = await memberOf(portal, 'julie.a', estA);
    await portal.ctx.db.updateTable('users').set({ locked_at: portal.clock.now() }).where('id', '=', member.userId).execute();
    const page = await adminA.client.get('/compte/utilisateurs');
    expect(page.status).toBe(200);
    const text = decodeEntities(page.text);
    expect(text).toContain('Hôpital A');
    expect(text).toContain('julie.a');
    expect(text).toContain('Verrouillé');
    expect(text).toContain('Actif');
    expect(text).toContain(`/compte/utilisateurs/${estA}/${member.userId}`);
    expect(text).toContain('Ajouter un utilisateur');
    expect(text).not.toContain('adm.b');
    const search = await adminA.client.get(`${listA()}&q=JULIE`);
    expect(search.text).toContain('julie.a');
    expect(search.text).not.toContain('>adm.a<');
    const none = await adminA.client.get(`${listA()}&q=zzz%25`);
    expect(none.text).not.toContain('julie.a');
    await portal.ctx.db.updateTable('users').set({ locked_at: null }).where('id', '=', member.userId).execute();
  });

  it('pages by 50', async () => {
    const est = await establishment(portal, 'Grand hôpital');
    await grant(portal, adminA.userId, est, ['admin']);
    const now = portal.clock.now();
    const ids = Array.from({ length: 55 }, () => randomUUID());
    await portal.ctx.db.insertInto('users').values(ids.map((id, i) => ({
      id, login: `p${String(i).padStart(3, '0')}.grand`, email: `p${i}@grand.test.example`, display_name: `Personne ${String(i).padStart(3, '0')}`, roles: [], created_at: now, updated_at: now,
    }))).execute();
    await portal.ctx.db.insertInto('user_rights').values(ids.map((id) => ({ user_id: id, establishment_id: est, right_name: 'member' as const, granted_at: now, granted_by: null }))).execute();
    const first = await adminA.client.get(`/compte/utilisateurs?etablissement=${est}`);
    expect(first.text).toContain('Page 1 sur 2');
    expect(first.text).toContain('p000.grand');
    expect(first.text).not.toContain('p054.grand');
    const second = await adminA.client.get(`/compte/utilisateurs?etablissement=${est}&page=2`);
    expect(second.text).toContain('p054.grand');
    expect(second.text).not.toContain('p000.grand');
    // Several establishments: a select to pick one.
    expect(first.text).toContain('<select id="etablissement"');
  });

  it('answers 404 to a signed-in user without the admin right, and sends the signed-out to sign in', async () => {
    const member = await memberOf(portal, 'simple.a', estA);
    expect((await member.client.get('/compte/utilisateurs')).status).toBe(404);
    expect((await member.client.get(`/compte/utilisateurs/${estA}/${adminA.userId}`)).status).toBe(404);
    const out = await portal.client().get('/compte/utilisateurs');
    expect(out.status).toBe(303);
    expect(out.location).toBe('/connexion');
    // The header link is only for administrators.
    expect((await member.client.get('/compte')).text).not.toContain('href="/compte/utilisateurs"');
    expect((await adminA.client.get('/compte')).text).toContain('href="/compte/utilisateurs"');
  });

  it('isolates establishments: every route answers 404 for another establishment’s users and invitations', async () => {
    const memberB = await memberOf(portal, 'bob.b', estB, ['member', 'patient-data']);
    await inviteNew(adminB.client, estB, 'Invitée B', 'invitee.b@b.test.example');
    const [invB] = await invitationsOf(portal, 'invitee.b@b.test.example');
    const c = adminA.client;
    const notFound = async (res: Promise<{ status: number; text: string }>, label: string) => {
      const r = await res;
      expect(r.status, label).toBe(404);
      expect(r.text, label).toContain('Page introuvable');
      expect(r.text, label).not.toContain('bob.b');
    };
    await notFound(c.get(`/compte/utilisateurs?etablissement=${estB}`), 'list B');
    await notFound(c.get(`/compte/utilisateurs/ajouter?etablissement=${estB}`), 'add B');
    await notFound(c.get(`/compte/utilisateurs/ajouter/nouveau?etablissement=${estB}`), 'new B');
    await notFound(c.get(`/compte/utilisateurs/${estB}/${memberB.userId}`), 'manage B');
    await notFound(c.get(`/compte/utilisateurs/${estA}/${memberB.userId}`), 'manage B user through A');
    await notFound(c.get(`/compte/utilisateurs/${estB}/${memberB.userId}/supprimer`), 'delete page B');
    await notFound(postFrom(c, listA(), `/compte/utilisateurs/${estB}/${memberB.userId}/droits`, { droits: ['admin'] }), 'rights B');
    await notFound(postFrom(c, listA(), `/compte/utilisateurs/${estA}/${memberB.userId}/droits`, { droits: ['admin'] }), 'rights B user through A');
    await notFound(postFrom(c, listA(), `/compte/utilisateurs/${estB}/${memberB.userId}/supprimer`), 'delete B');
    await notFound(postFrom(c, listA(), `/compte/utilisateurs/${estA}/${memberB.userId}/supprimer`), 'delete B user through A');
    await notFound(postFrom(c, listA(), `/compte/utilisateurs/invitations/${invB!.id}/renvoyer`), 'resend B');
    await notFound(postFrom(c, listA(), `/compte/utilisateurs/invitations/${invB!.id}/annuler`), 'cancel B');
    await notFound(postFrom(c, listA(), '/compte/utilisateurs/ajouter/droits', { etablissement: estB, type: 'nouveau', nom: 'X', email: 'x@b.test.example' }), 'step 2 B');
    await notFound(postFrom(c, listA(), '/compte/utilisateurs/ajouter/envoyer', { etablissement: estB, type: 'nouveau', nom: 'X', email: 'x@b.test.example', droits: ['admin'] }), 'send B');
    await notFound(c.get(`/compte/utilisateurs/${estA}/not-a-uuid`), 'garbage id');
    await notFound(postFrom(c, listA(), '/compte/utilisateurs/invitations/not-a-uuid/annuler'), 'garbage invitation');
    // Nothing changed on B's side.
    const rights = await portal.ctx.db.selectFrom('user_rights').select('right_name').where('user_id', '=', memberB.userId).orderBy('right_name').execute();
    expect(rights.map((r) => r.right_name)).toEqual(['member', 'patient-data']);
    const [still] = await invitationsOf(portal, 'invitee.b@b.test.example');
    expect(still!.cancelled_at).toBeNull();
    expect(still!.token_hash).toBe(invB!.token_hash);
    expect(await invitationsOf(portal, 'x@b.test.example')).toEqual([]);
    // And B's own administrator can act.
    expect((await adminB.client.get(`/compte/utilisateurs/${estB}/${memberB.userId}`)).status).toBe(200);
  });

  it('changes rights with an audit row naming the administrator; refuses none and one’s own admin right', async () => {
    const member = await memberOf(portal, 'rights.a', estA);
    const manage = `/compte/utilisateurs/${estA}/${member.userId}`;
    const page = await adminA.client.get(manage);
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/id="droit-member"[^>]*checked/);
    const changed = await postFrom(adminA.client, manage, `${manage}/droits`, { droits: ['patient-data', 'admin'] });
    expect(changed.status).toBe(303);
    const rights = await portal.ctx.db.selectFrom('user_rights').select('right_name').where('user_id', '=', member.userId).orderBy('right_name').execute();
    expect(rights.map((r) => r.right_name)).toEqual(['admin', 'patient-data']);
    const audit = await portal.ctx.db.selectFrom('audit_events').selectAll().where('type', '=', 'rights.changed').where('user_id', '=', member.userId).executeTakeFirstOrThrow();
    expect(audit.actor_id).toBe(adminA.userId);
    expect(audit.establishment_id).toBe(estA);
    expect(audit.details).toMatchObject({ before: ['member'], after: ['admin', 'patient-data'] });

    const none = await postFrom(adminA.client, manage, `${manage}/droits`, {});
    expect(none.status).toBe(400);
    expect(decodeEntities(none.text)).toContain('Sélectionnez au moins un droit d’accès.');
    const self = `/compte/utilisateurs/${estA}/${adminA.userId}`;
    const own = await postFrom(adminA.client, self, `${self}/droits`, { droits: ['member'] });
    expect(own.status).toBe(400);
    expect(decodeEntities(own.text)).toContain('votre propre droit d’administrateur');
  });

  it('explains that the sign-in address cannot change; from 5 establishments, local support does it', async () => {
    const member = await memberOf(portal, 'email.a', estA);
    const page = decodeEntities((await adminA.client.get(`/compte/utilisateurs/${estA}/${member.userId}`)).text);
    expect(page).toContain('ne peut pas modifier l’adresse e-mail');
    expect(page).toContain('crée un nouvel identifiant');
    expect(page).not.toContain('équipe d’assistance locale');
    for (let i = 0; i < 4; i++) await grant(portal, member.userId, await establishment(portal, `Satellite ${i}`), ['member']);
    const many = decodeEntities((await adminA.client.get(`/compte/utilisateurs/${estA}/${member.userId}`)).text);
    expect(many).toContain('contactez votre équipe d’assistance locale');
    expect(many).not.toContain('crée un nouvel identifiant');
  });

  it('« Supprimer l’utilisateur » asks for confirmation, deletes an identity left with no establishment, and ends its sessions', async () => {
    const member = await memberOf(portal, 'partant.a', estA);
    await portal.ctx.db.insertInto('trusted_browsers').values({
      token_hash: 'x'.repeat(64), id: randomUUID(), user_id: member.userId, family: 'firefox', user_agent: 'test',
      created_at: portal.clock.now(), expires_at: portal.clock.now(), last_used_at: portal.clock.now(),
    }).execute();
    const manage = `/compte/utilisateurs/${estA}/${member.userId}`;
    expect((await adminA.client.get(manage)).text).toContain(`${manage}/supprimer`);
    const confirm = await adminA.client.get(`${manage}/supprimer`);
    expect(confirm.status).toBe(200);
    expect(decodeEntities(confirm.text)).toContain('Supprimer Camille Martin (partant.a) de l’établissement Hôpital A ?');
    expect(await portal.ctx.db.selectFrom('users').select('id').where('id', '=', member.userId).execute()).toHaveLength(1);
    const deleted = await adminA.client.post(`${manage}/supprimer`, { _csrf: adminA.client.csrf(confirm.text) });
    expect(deleted.status).toBe(303);
    expect(deleted.location).toContain('ok=supprime');
    expect(await portal.ctx.db.selectFrom('users').select('id').where('id', '=', member.userId).execute()).toEqual([]);
    expect(await portal.ctx.db.selectFrom('sessions').select('id').where('user_id', '=', member.userId).execute()).toEqual([]);
    expect(await portal.ctx.db.selectFrom('trusted_browsers').select('id').where('user_id', '=', member.userId).execute()).toEqual([]);
    const landed = await member.client.get('/compte');
    expect(landed.status).toBe(303);
    expect(landed.location).toBe('/connexion');
    const audits = await portal.ctx.db.selectFrom('audit_events').select(['type', 'actor_id', 'establishment_id']).where('user_id', '=', member.userId)
      .where('type', 'in', ['account.removed-from-establishment', 'account.deleted']).orderBy('id').execute();
    expect(audits).toEqual([
      { type: 'account.removed-from-establishment', actor_id: adminA.userId, establishment_id: estA },
      { type: 'account.deleted', actor_id: adminA.userId, establishment_id: estA },
    ]);
    expect((await adminA.client.get(manage)).status).toBe(404);
  });

  it('removes from one establishment only a person who belongs to another, and refuses self-deletion', async () => {
    const member = await memberOf(portal, 'double.ab', estA);
    await grant(portal, member.userId, estB, ['member']);
    const manage = `/compte/utilisateurs/${estA}/${member.userId}`;
    expect((await postFrom(adminA.client, `${manage}/supprimer`, `${manage}/supprimer`)).status).toBe(303);
    const left = await portal.ctx.db.selectFrom('user_rights').select('establishment_id').where('user_id', '=', member.userId).execute();
    expect(left.map((r) => r.establishment_id)).toEqual([estB]);
    expect((await member.client.get('/compte')).status).toBe(200);
    expect(await portal.ctx.db.selectFrom('audit_events').select('id').where('user_id', '=', member.userId).where('type', '=', 'account.deleted').execute()).toEqual([]);
    const self = `/compte/utilisateurs/${estA}/${adminA.userId}`;
    const refused = await postFrom(adminA.client, self, `${self}/supprimer`);
    expect(refused.status).toBe(400);
    expect(decodeEntities(refused.text)).toContain('Vous ne pouvez pas vous supprimer vous-même');
  });
});
