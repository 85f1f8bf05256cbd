import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntities } from '../support/http.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';
import { DAY, SESSION_COOKIE, START_TIMEOUT, signIn, signOut } from './auth-helpers.ts';
import { adminOf, establishment, invitationsOf, invitationToken, inviteExisting, inviteNew, postFrom } from './admin-helpers.ts';

const NEW_PASSWORD = 'Ornithorynque#Bleu57';

describe.each(ENGINES)('invitations on %s', (engine) => {
  let portal: Portal;
  let estA: string;
  let admin: Awaited<ReturnType<typeof adminOf>>;
  beforeAll(async () => {
    portal = await startPortal(engine);
    estA = await establishment(portal, 'Clinique des Lilas');
    admin = await adminOf(portal, 'adm.lilas', [estA]);
  }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });

  it('invites a new person, who chooses an identifier and a password, is signed in, and can sign in again', async () => {
    const sent = await inviteNew(admin.client, estA, 'Léa Dubois', 'lea.dubois@lilas.test.example', ['patient-data', 'member']);
    expect(sent.status).toBe(303);
    expect(sent.location).toMatch(/ok=invitation/);
    const list = await admin.client.follow(sent);
    expect(list.text).toContain('Invitation envoyée');
    expect(list.text).toContain('lea.dubois@lilas.test.example');

    const token = await invitationToken(portal, 'lea.dubois@lilas.test.example');
    const rows = await invitationsOf(portal, 'lea.dubois@lilas.test.example');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).not.toContain(token);
    expect(rows[0]!.expires_at.getTime() - rows[0]!.created_at.getTime()).toBe(7 * DAY);

    const person = portal.client();
    const page = await person.get(`/invitation/${token}`);
    expect(page.status).toBe(200);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.text).toContain('Clinique des Lilas');
    expect(page.text).toMatch(/id="identifiant"[^>]*value="lea.dubois"/);

    // Policy and identifier rules, with the field named.
    const weak = await person.post(`/invitation/${token}`, { _csrf: person.csrf(page.text), identifiant: 'lea.dubois', nouveau_mot_de_passe: 'court', confirmation: 'court' });
    expect(weak.status).toBe(400);
    expect(decodeEntities(weak.text)).toContain('« Nouveau mot de passe »');
    const taken = await person.post(`/invitation/${token}`, { _csrf: person.csrf(page.text), identifiant: 'adm.lilas', nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(taken.status).toBe(400);
    expect(decodeEntities(taken.text)).toContain('« Identifiant » est déjà pris');
    const bad = await person.post(`/invitation/${token}`, { _csrf: person.csrf(page.text), identifiant: 'é !', nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(bad.status).toBe(400);

    const done = await person.post(`/invitation/${token}`, { _csrf: person.csrf(page.text), identifiant: 'lea.dubois', nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/invitation-acceptee');
    expect(done.headers.getSetCookie().some((c) => c.startsWith(`${SESSION_COOKIE}=`))).toBe(true);
    const welcome = await person.follow(done);
    expect(welcome.text).toContain('lea.dubois');
    expect((await person.get('/compte')).status).toBe(200);

    const user = await portal.ctx.db.selectFrom('users').selectAll().where('login', '=', 'lea.dubois').executeTakeFirstOrThrow();
    expect(user.email).toBe('lea.dubois@lilas.test.example');
    expect(user.display_name).toBe('Léa Dubois');
    const rights = await portal.ctx.db.selectFrom('user_rights').select('right_name').where('user_id', '=', user.id).where('establishment_id', '=', estA).orderBy('right_name').execute();
    expect(rights.map((r) => r.right_name)).toEqual(['member', 'patient-data']);

    // Single use.
    expect((await portal.client().get(`/invitation/${token}`)).status).toBe(410);
    const again = portal.client();
    const gonePage = await again.get('/connexion');
    expect((await again.post(`/invitation/${token}`, { _csrf: again.csrf(gonePage.text), identifiant: 'autre.lea', nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD })).status).toBe(410);

    // Sign out, sign in again with the chosen identifier.
    await signOut(person);
    const back = await signIn(person, 'lea.dubois', NEW_PASSWORD);
    expect(back.status).toBe(303);
    // The password works; patient-data makes the second factor required, as for anyone holding it.
    expect(back.location).toBe('/verification');

    const audits = await portal.ctx.db.selectFrom('audit_events').selectAll().where('establishment_id', '=', estA)
      .where('type', 'in', ['invitation.sent', 'invitation.accepted', 'account.created']).orderBy('id').execute();
    expect(audits.map((a) => [a.type, a.actor_id])).toEqual([
      ['invitation.sent', admin.userId], ['account.created', admin.userId], ['invitation.accepted', admin.userId],
    ]);
  });

  it('refuses an empty name, a bad e-mail and no rights, naming the field', async () => {
    const step1 = await admin.client.get(`/compte/utilisateurs/ajouter/nouveau?etablissement=${estA}`);
    const res = await admin.client.post('/compte/utilisateurs/ajouter/droits', { _csrf: admin.client.csrf(step1.text), etablissement: estA, type: 'nouveau', nom: '', email: 'pas-une-adresse' });
    expect(res.status).toBe(400);
    const text = decodeEntities(res.text);
    expect(text).toContain('Le champ « Nom » est obligatoire.');
    expect(text).toContain('« Adresse e-mail » n’est pas une adresse e-mail valide.');
    const none = await admin.client.post('/compte/utilisateurs/ajouter/envoyer', { _csrf: admin.client.csrf(step1.text), etablissement: estA, type: 'nouveau', nom: 'Sans Droit', email: 'sans.droit@lilas.test.example' });
    expect(none.status).toBe(400);
    expect(decodeEntities(none.text)).toContain('Sélectionnez au moins un droit d’accès.');
    expect(await invitationsOf(portal, 'sans.droit@lilas.test.example')).toEqual([]);
  });

  it('« Renvoyer » voids the previous link; « Annuler » voids the link', async () => {
    await inviteNew(admin.client, estA, 'Paul Renvoi', 'paul.renvoi@lilas.test.example');
    const first = await invitationToken(portal, 'paul.renvoi@lilas.test.example');
    const [inv] = await invitationsOf(portal, 'paul.renvoi@lilas.test.example');
    const resent = await postFrom(admin.client, `/compte/utilisateurs?etablissement=${estA}`, `/compte/utilisateurs/invitations/${inv!.id}/renvoyer`);
    expect(resent.status).toBe(303);
    const second = await invitationToken(portal, 'paul.renvoi@lilas.test.example', [first]);
    expect(second).not.toBe(first);
    expect((await portal.client().get(`/invitation/${first}`)).status).toBe(410);
    expect((await portal.client().get(`/invitation/${second}`)).status).toBe(200);

    const cancelled = await postFrom(admin.client, `/compte/utilisateurs?etablissement=${estA}`, `/compte/utilisateurs/invitations/${inv!.id}/annuler`);
    expect(cancelled.status).toBe(303);
    expect((await portal.client().get(`/invitation/${second}`)).status).toBe(410);
    const audits = await portal.ctx.db.selectFrom('audit_events').select(['type', 'actor_id']).where('subject', '=', 'paul.renvoi@lilas.test.example').orderBy('id').execute();
    expect(audits).toEqual([
      { type: 'invitation.sent', actor_id: admin.userId }, { type: 'invitation.resent', actor_id: admin.userId }, { type: 'invitation.cancelled', actor_id: admin.userId },
    ]);
  });

  it('an existing user accepts from the link once signed in; someone signed out is asked to sign in', async () => {
    const other = await portal.activeUser('marc.existant');
    const sent = await inviteExisting(admin.client, estA, 'marc.existant', other.email, ['member']);
    expect(sent.status).toBe(303);
    const token = await invitationToken(portal, other.email);
    const stranger = await portal.client().get(`/invitation/${token}`);
    expect(stranger.status).toBe(200);
    expect(decodeEntities(stranger.text)).toContain('Connectez-vous, puis revenez sur ce lien');
    expect(stranger.text).not.toContain('name="nouveau_mot_de_passe"');
    // Access only starts at acceptance.
    expect(await portal.ctx.db.selectFrom('user_rights').select('user_id').where('user_id', '=', other.userId).execute()).toEqual([]);
    const page = await other.client.get(`/invitation/${token}`);
    expect(page.text).toContain('Accepter l’invitation');
    const accepted = await other.client.post(`/invitation/${token}`, { _csrf: other.client.csrf(page.text) });
    expect(accepted.status).toBe(200);
    expect(accepted.text).toContain('Clinique des Lilas');
    const rights = await portal.ctx.db.selectFrom('user_rights').select('right_name').where('user_id', '=', other.userId).where('establishment_id', '=', estA).execute();
    expect(rights.map((r) => r.right_name)).toEqual(['member']);
    expect((await other.client.get(`/invitation/${token}`)).status).toBe(410);
  });

  it('an existing user accepts from « Mon compte »; a new-user invitation to their address is tied to them', async () => {
    const other = await portal.activeUser('nina.compte');
    const sent = await inviteNew(admin.client, estA, 'Nina Compte', other.email, ['patient-data']);
    expect(sent.status).toBe(303);
    const [inv] = await invitationsOf(portal, other.email);
    expect(inv!.user_id).toBe(other.userId);
    const account = await other.client.get('/compte');
    expect(account.text).toContain('Invitations reçues');
    expect(account.text).toContain(`/compte/invitations/${inv!.id}/accepter`);
    // Someone else cannot accept it.
    const intruder = await portal.activeUser('intrus.compte');
    expect((await postFrom(intruder.client, '/compte', `/compte/invitations/${inv!.id}/accepter`)).status).toBe(404);
    const accepted = await postFrom(other.client, '/compte', `/compte/invitations/${inv!.id}/accepter`);
    expect(accepted.status).toBe(303);
    expect(accepted.location).toBe('/compte?ok=invitation-acceptee');
    const after = await other.client.follow(accepted);
    expect(after.text).not.toContain(`/compte/invitations/${inv!.id}/accepter`);
    const rights = await portal.ctx.db.selectFrom('user_rights').select('right_name').where('user_id', '=', other.userId).execute();
    expect(rights.map((r) => r.right_name)).toEqual(['patient-data']);
  });

  it('« Utilisateur existant » answers the same neutral error for a wrong identifier or a wrong address', async () => {
    const other = await portal.activeUser('olga.neutre');
    const step1 = await admin.client.get(`/compte/utilisateurs/ajouter/existant?etablissement=${estA}`);
    const csrf = admin.client.csrf(step1.text);
    const wrongEmail = await admin.client.post('/compte/utilisateurs/ajouter/droits', { _csrf: csrf, etablissement: estA, type: 'existant', identifiant: 'olga.neutre', email: 'autre@lilas.test.example' });
    const wrongLogin = await admin.client.post('/compte/utilisateurs/ajouter/droits', { _csrf: csrf, etablissement: estA, type: 'existant', identifiant: 'personne', email: other.email });
    expect(wrongEmail.status).toBe(400);
    expect(wrongLogin.status).toBe(400);
    const message = (html: string) => /<p class="error"[^>]*>([^<]*)</.exec(html)?.[1];
    expect(message(wrongEmail.text)).toBe(message(wrongLogin.text));
    expect(decodeEntities(wrongEmail.text)).toContain('Aucun compte ne correspond à cet identifiant et à cette adresse e-mail.');
  });

  it('a link past its 7 days says so (410)', async () => {
    await inviteNew(admin.client, estA, 'Tom Tard', 'tom.tard@lilas.test.example');
    const token = await invitationToken(portal, 'tom.tard@lilas.test.example');
    portal.clock.advance(7 * DAY - 60_000);
    expect((await portal.client().get(`/invitation/${token}`)).status).toBe(200);
    portal.clock.advance(2 * 60_000);
    const late = portal.client();
    const res = await late.get(`/invitation/${token}`);
    expect(res.status).toBe(410);
    expect(decodeEntities(res.text)).toContain('n’est plus valable');
    const login = await late.get('/connexion');
    expect((await late.post(`/invitation/${token}`, { _csrf: late.csrf(login.text), identifiant: 'tom.tard', nouveau_mot_de_passe: NEW_PASSWORD, confirmation: NEW_PASSWORD })).status).toBe(410);
    expect(await portal.ctx.db.selectFrom('users').select('id').where('login', '=', 'tom.tard').execute()).toEqual([]);
  });
});

