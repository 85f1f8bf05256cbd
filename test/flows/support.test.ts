import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/commands.ts';
import { captchaFields } from '../support/captcha.ts';
import type { WebClient } from '../support/http.ts';
import { ENGINES, startPortal, type Portal } from '../support/portal.ts';
import { errorSummary, forgotIdentifier, visible } from './helpers.ts';
import { START_TIMEOUT, signIn } from './auth-helpers.ts';

async function isSignedIn(client: WebClient): Promise<boolean> {
  return (await client.get('/compte')).status === 200;
}

describe.each(ENGINES)('support desk on %s', (engine) => {
  let portal: Portal;
  let agent: { client: WebClient; userId: string; login: string };
  let outsider: WebClient;
  let establishmentId: string;

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const code = await runCommand(portal.ctx, argv, { out: (l) => out.push(l), err: () => {} });
    return { code, out: out.join('\n') };
  }

  beforeAll(async () => {
    portal = await startPortal(engine);
    // The agent's role is read at every request: granting it to an account already signed in is enough
    // here (a sign-in with the role would go through /verification, covered by establishments.test.ts).
    const a = await portal.activeUser('agent.desk');
    expect((await cli('support', 'agent.desk')).code).toBe(0);
    agent = { client: a.client, userId: a.userId, login: a.login };
    outsider = (await portal.activeUser('simple.user')).client;
    establishmentId = (await cli('establishment', 'create', '--name', 'Clinique des Tilleuls')).out;
  }, START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });

  /** Posts an action from its confirmation page, with the page's CSRF token. */
  async function act(userId: string, slug: string, motif: string) {
    const path = `/support/utilisateurs/${userId}/actions/${slug}`;
    const page = await agent.client.get(path);
    expect(page.status, path).toBe(200);
    return agent.client.post(path, { _csrf: agent.client.csrf(page.text), motif });
  }

  async function supportAudits(userId: string) {
    return portal.ctx.db.selectFrom('audit_events').selectAll().where('type', '=', 'support.action').where('user_id', '=', userId).orderBy('id').execute();
  }

  it('answers 404 on every desk route to anyone without the support role', async () => {
    const target = (await portal.createUser('cible.404')).userId;
    const token = outsider.csrf((await outsider.get('/compte')).text);
    const anonymous = portal.client();
    for (const client of [outsider, anonymous]) {
      for (const path of ['/support', '/support?q=cible', `/support/utilisateurs/${target}`, `/support/utilisateurs/${target}/actions/desactiver`, '/support/demandes/00000000-0000-4000-8000-000000000000']) {
        expect((await client.get(path)).status, path).toBe(404);
      }
      for (const path of [`/support/utilisateurs/${target}/actions/desactiver`, '/support/demandes/00000000-0000-4000-8000-000000000000']) {
        expect((await client.post(path, { _csrf: token, motif: 'appel vérifié' })).status, path).toBe(404);
      }
    }
    expect((await portal.ctx.db.selectFrom('users').select('disabled_at').where('id', '=', target).executeTakeFirstOrThrow()).disabled_at).toBeNull();
    expect((await agent.client.get('/support')).status).toBe(200);
    expect((await agent.client.get('/support/utilisateurs/pas-un-uuid')).status).toBe(404);
    expect((await agent.client.get(`/support/utilisateurs/${target}/actions/inconnue`)).status).toBe(404);
  });

  it('searches by identifier, name, e-mail and establishment, paginated', async () => {
    await portal.createUser('dr.recherche', { name: 'Dominique Zéphyrin', email: 'dz@cabinet-rare.test.example' });
    await cli('user', 'create', '--login', 'inf.tilleuls', '--email', 'inf@tilleuls.test.example', '--name', 'Sacha Leroy', '--establishment', establishmentId, '--role', 'member');
    const search = async (q: string) => visible((await agent.client.get(`/support?q=${encodeURIComponent(q)}`)).text);
    expect(await search('dr.rech')).toContain('dr.recherche');
    expect(await search('zéphyrin')).toContain('dr.recherche');
    expect(await search('cabinet-rare')).toContain('dr.recherche');
    const byEstablishment = await search('Tilleuls');
    expect(byEstablishment).toContain('inf.tilleuls');
    expect(byEstablishment).not.toContain('dr.recherche');
    expect(await search('%')).toContain('Aucun utilisateur');
    for (let i = 0; i < 21; i++) await portal.ctx.db.insertInto('users').values({ id: crypto.randomUUID(), login: `page.${String(i).padStart(2, '0')}`, email: `p${i}@page.test.example`, display_name: 'Page', created_at: portal.clock.now(), updated_at: portal.clock.now() }).execute();
    const first = await agent.client.get('/support?q=page.');
    expect(first.text).toContain('page.19');
    expect(first.text).not.toContain('page.20');
    expect(first.text).toContain('Page suivante');
    const second = await agent.client.get('/support?q=page.&page=2');
    expect(second.text).toContain('page.20');
    expect(second.text).toContain('Page précédente');
    expect((await agent.client.get('/support?q=page.&page=abc')).status).toBe(200);
  });

  it('shows the user record: status, failures, temporary password, methods, sessions, rights', async () => {
    const user = await portal.activeUser('fiche.user');
    await cli('user', 'create', '--login', 'fiche.droits', '--email', 'fd@test.example', '--name', 'Fiche Droits', '--establishment', establishmentId, '--role', 'admin');
    const withRights = await portal.ctx.db.selectFrom('users').select('id').where('login', '=', 'fiche.droits').executeTakeFirstOrThrow();
    const page = visible((await agent.client.get(`/support/utilisateurs/${user.userId}`)).text);
    expect(page).toContain('Actif');
    expect(page).toContain('Code par e-mail');
    expect(page).toContain('Sessions actives');
    expect(page).not.toContain('Aucune session active');
    const rights = visible((await agent.client.get(`/support/utilisateurs/${withRights.id}`)).text);
    expect(rights).toContain('Clinique des Tilleuls : admin');
    expect(rights).toMatch(/Valable jusqu’au/);
  });

  it('requires a reason of 5 to 500 characters, naming « Motif »', async () => {
    const user = await portal.activeUser('motif.user');
    for (const motif of ['', '   ', 'abc', 'x'.repeat(501)]) {
      const res = await act(user.userId, 'sessions', motif);
      expect(res.status).toBe(400);
      expect(errorSummary(res.text).join(' ')).toContain('Motif');
      expect(res.text).toContain('aria-invalid="true"');
    }
    expect(await isSignedIn(user.client)).toBe(true);
    expect(await supportAudits(user.userId)).toEqual([]);
  });

  it('resets the password by the two-mail path; the agent never sees it', async () => {
    const user = await portal.activeUser('reset.user');
    await portal.deliver();
    portal.smtp.clear();
    const res = await act(user.userId, 'mot-de-passe', 'Rappel au 06, date de naissance vérifiée');
    expect(res.status).toBe(303);
    expect(res.location).toBe(`/support/utilisateurs/${user.userId}?ok=reset-password`);
    const identifierMail = await portal.mail(user.email, /votre identifiant de connexion/);
    expect(identifierMail.text).toContain('reset.user');
    const passwordMail = await portal.mail(user.email, /mot de passe provisoire/);
    const temporary = /Mot de passe provisoire : (\S+)/.exec(passwordMail.text)![1]!;
    const page = await agent.client.get(res.location!);
    expect(page.text).toContain('Un nouveau mot de passe provisoire a été envoyé');
    expect(page.text).not.toContain(temporary);
    expect(await isSignedIn(user.client)).toBe(false);
    expect((await signIn(portal.client(), 'reset.user', temporary)).location).toBe('/premiere-connexion');
    const [row] = await supportAudits(user.userId);
    expect(row).toMatchObject({ actor_id: agent.userId, details: { action: 'reset-password', reason: 'Rappel au 06, date de naissance vérifiée' } });
    expect(JSON.stringify(row)).not.toContain(temporary);
  });

  it('unlocks, resets the second factor and ends every session, each audited with the agent and the reason', async () => {
    const user = await portal.activeUser('multi.user');
    await portal.ctx.db.updateTable('users').set({ locked_at: portal.clock.now(), failed_count: 10 }).where('id', '=', user.userId).execute();
    const locked = visible((await agent.client.get(`/support/utilisateurs/${user.userId}`)).text);
    expect(locked).toContain('Verrouillé');
    expect((await act(user.userId, 'deverrouiller', 'Appel vérifié : unlock')).status).toBe(303);
    const row = await portal.ctx.db.selectFrom('users').select(['locked_at', 'failed_count']).where('id', '=', user.userId).executeTakeFirstOrThrow();
    expect(row).toEqual({ locked_at: null, failed_count: 0 });

    await portal.deliver();
    portal.smtp.clear();
    expect((await act(user.userId, 'double-authentification', 'Téléphone perdu, identité vérifiée')).status).toBe(303);
    await portal.mail(user.email, /sécurité de votre compte/);
    expect(await portal.ctx.db.selectFrom('audit_events').select('id').where('type', '=', 'second-factor.reset').where('user_id', '=', user.userId).execute()).toHaveLength(1);
    expect(await isSignedIn(user.client)).toBe(false);

    const again = portal.client();
    await signIn(again, 'multi.user', user.password);
    expect(await isSignedIn(again)).toBe(true);
    expect((await act(user.userId, 'sessions', 'Session ouverte sur un poste partagé')).status).toBe(303);
    expect(await isSignedIn(again)).toBe(false);

    const audits = await supportAudits(user.userId);
    expect(audits.map((a) => [a.actor_id, a.details.action, a.details.reason])).toEqual([
      [agent.userId, 'unlock', 'Appel vérifié : unlock'],
      [agent.userId, 'reset-second-factor', 'Téléphone perdu, identité vérifiée'],
      [agent.userId, 'end-sessions', 'Session ouverte sur un poste partagé'],
    ]);
  });

  it('disabling prevents sign-in and ends the sessions; enabling restores it', async () => {
    const user = await portal.activeUser('off.user');
    expect((await act(user.userId, 'desactiver', 'Départ de l’établissement confirmé')).status).toBe(303);
    expect(await isSignedIn(user.client)).toBe(false);
    const refused = portal.client();
    await signIn(refused, 'off.user', user.password);
    expect(await isSignedIn(refused)).toBe(false);
    expect(visible((await agent.client.get(`/support/utilisateurs/${user.userId}`)).text)).toContain('Désactivé');
    expect(await portal.ctx.db.selectFrom('audit_events').select('actor_id').where('type', '=', 'account.disabled').where('user_id', '=', user.userId).execute())
      .toEqual([{ actor_id: agent.userId }]);

    expect((await act(user.userId, 'reactiver', 'Retour confirmé par la direction')).status).toBe(303);
    const back = portal.client();
    await signIn(back, 'off.user', user.password);
    expect(await isSignedIn(back)).toBe(true);
    expect((await supportAudits(user.userId)).map((a) => a.details.action)).toEqual(['disable', 'enable']);
  });

  it('« Ce n’était pas moi » and « Identifiant oublié » reach the desk and can be handled', async () => {
    const known = await portal.createUser('notme.user', { email: 'notme@test.example' });
    const visitor = portal.client();
    const submitNotMe = async (email: string, message: string) => {
      const page = await visitor.get('/ce-n-etait-pas-moi');
      expect(page.status).toBe(200);
      return visitor.post('/ce-n-etait-pas-moi', { ...(await captchaFields(page.text)), _csrf: visitor.csrf(page.text), email, message });
    };
    const a = await submitNotMe('notme@test.example', 'Mail de changement reçu <b>hier</b>');
    const b = await submitNotMe('inconnu@test.example', '');
    expect(a.status).toBe(200);
    expect(visible(a.text)).toBe(visible(b.text).replace('inconnu@test.example', 'notme@test.example'));
    expect((await submitNotMe('', '')).status).toBe(400);
    expect((await forgotIdentifier(portal.client(), 'notme@test.example')).status).toBe(200);

    const rows = await portal.ctx.db.selectFrom('support_requests').selectAll().where('handled_at', 'is', null).orderBy('created_at').execute();
    expect(rows.map((r) => [r.kind, r.email, r.user_id])).toEqual([
      ['not-me', 'notme@test.example', known.userId],
      ['not-me', 'inconnu@test.example', null],
      ['forgotten-identifier', 'notme@test.example', known.userId],
    ]);
    expect(await portal.ctx.db.selectFrom('audit_events').select('subject').where('type', '=', 'support.request.created').execute()).toHaveLength(2);

    const desk = await agent.client.get('/support');
    expect(desk.text).toContain('Mail de changement reçu &lt;b&gt;hier&lt;/b&gt;');
    expect(visible(desk.text)).toContain('Identifiant oublié');
    const request = rows[0]!;
    const path = `/support/demandes/${request.id}`;
    const form = await agent.client.get(path);
    const empty = await agent.client.post(path, { _csrf: agent.client.csrf(form.text), resolution: ' ' });
    expect(empty.status).toBe(400);
    expect(errorSummary(empty.text).join(' ')).toContain('Résolution');
    const done = await agent.client.post(path, { _csrf: agent.client.csrf(form.text), resolution: 'Rappelé, mot de passe réinitialisé' });
    expect(done.status).toBe(303);
    expect((await agent.client.get('/support')).text).not.toContain(`/support/demandes/${request.id}`);
    const handled = await portal.ctx.db.selectFrom('audit_events').selectAll().where('type', '=', 'support.request.handled').execute();
    expect(handled).toHaveLength(1);
    expect(handled[0]).toMatchObject({ actor_id: agent.userId, user_id: known.userId, details: { reason: 'Rappelé, mot de passe réinitialisé' } });
    const twice = await agent.client.post(path, { _csrf: agent.client.csrf(form.text), resolution: 'encore' });
    expect(twice.status).toBe(409);
  });
});
