// Helpers of the account administration and invitation flow tests (not a test file).
import { expect } from 'vitest';
import { createEstablishment, grantRights } from '../../src/flows/establishments.ts';
import { CLI_ORIGIN } from '../../src/store/audit.ts';
import type { RightName } from '../../src/store/schema.ts';
import type { WebClient, WebResponse } from '../support/http.ts';
import type { Portal } from '../support/portal.ts';

export const LINK_IN_MAIL = /\/invitation\/([A-Za-z0-9_-]{43})/;

export async function establishment(portal: Portal, name: string): Promise<string> {
  const created = await createEstablishment(portal.ctx, { name }, CLI_ORIGIN);
  if (!created.ok) throw new Error(JSON.stringify(created.errors));
  return created.id;
}

export async function grant(portal: Portal, userId: string, establishmentId: string, rights: RightName[]): Promise<void> {
  await portal.ctx.db.transaction().execute((trx) => grantRights(trx, userId, establishmentId, rights, portal.clock.now(), CLI_ORIGIN));
}

/** A signed-in account administrator of the given establishments (rights granted after the first connection). */
export async function adminOf(portal: Portal, login: string, establishmentIds: string[]) {
  const user = await portal.activeUser(login);
  for (const id of establishmentIds) await grant(portal, user.userId, id, ['admin']);
  return user;
}

/** A signed-in user with rights on an establishment. */
export async function memberOf(portal: Portal, login: string, establishmentId: string, rights: RightName[] = ['member']) {
  const user = await portal.activeUser(login);
  await grant(portal, user.userId, establishmentId, rights);
  return user;
}

/** « Ajouter un utilisateur » → « Nouvel utilisateur » → rights → « Envoyer l'invitation ». */
export async function inviteNew(client: WebClient, establishmentId: string, name: string, email: string, rights: string[] = ['member']): Promise<WebResponse> {
  const step1 = await client.get(`/compte/utilisateurs/ajouter/nouveau?etablissement=${establishmentId}`);
  expect(step1.status).toBe(200);
  const step2 = await client.post('/compte/utilisateurs/ajouter/droits', { _csrf: client.csrf(step1.text), etablissement: establishmentId, type: 'nouveau', nom: name, email });
  expect(step2.status, step2.text).toBe(200);
  return client.post('/compte/utilisateurs/ajouter/envoyer', { _csrf: client.csrf(step2.text), etablissement: establishmentId, type: 'nouveau', nom: name, email, identifiant: '', droits: rights });
}

export async function inviteExisting(client: WebClient, establishmentId: string, login: string, email: string, rights: string[] = ['member']): Promise<WebResponse> {
  const step1 = await client.get(`/compte/utilisateurs/ajouter/existant?etablissement=${establishmentId}`);
  expect(step1.status).toBe(200);
  const step2 = await client.post('/compte/utilisateurs/ajouter/droits', { _csrf: client.csrf(step1.text), etablissement: establishmentId, type: 'existant', identifiant: login, email });
  expect(step2.status, step2.text).toBe(200);
  return client.post('/compte/utilisateurs/ajouter/envoyer', { _csrf: client.csrf(step2.text), etablissement: establishmentId, type: 'existant', nom: '', email, identifiant: login, droits: rights });
}

/** The invitation link of the latest matching mail (other than the excluded tokens). */
export async function invitationToken(portal: Portal, email: string, exclude: string[] = []): Promise<string> {
  await portal.deliver();
  const mail = await portal.smtp.waitFor((m) => m.to.includes(email) && /invitation/.test(m.subject)
    && !exclude.includes(LINK_IN_MAIL.exec(m.text)?.[1] ?? ''));
  return LINK_IN_MAIL.exec(mail.text)![1]!;
}

/** POSTs with the CSRF token of a page the client can read. */
export async function postFrom(client: WebClient, page: string, path: string, form: Record<string, string | string[]> = {}): Promise<WebResponse> {
  const res = await client.get(page);
  expect(res.status, `GET ${page}`).toBe(200);
  return client.post(path, { _csrf: client.csrf(res.text), ...form });
}

export async function invitationsOf(portal: Portal, email: string) {
  return portal.ctx.db.selectFrom('invitations').selectAll().where('email', '=', email).orderBy('created_at').execute();
}
