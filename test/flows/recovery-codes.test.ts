import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashRecoveryCode } from '../../src/flows/second-factor-methods.ts';
import type { WebClient, WebResponse } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import { auditOf, errorSummary, visible } from './helpers.ts';

const CODE_IN_MAIL = /Code : (\d{6})/;
const RECOVERY_SHAPE = /^[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}$/;

/** The codes listed on the page shown right after « Générer des codes de secours ». */
function codesOnPage(html: string): string[] {
  const list = /<ol class="recovery-codes"[^>]*>([\s\S]*?)<\/ol>/.exec(html)?.[1] ?? '';
  return [...list.matchAll(/<code>([^<]+)<\/code>/g)].map((m) => m[1]!);
}

describe.each(ENGINES)('recovery codes on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  async function admin(login: string): Promise<{ client: WebClient; email: string; userId: string }> {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary })).location).toBe('/verification');
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    return { client, email: user.email, userId: user.userId };
  }

  const generate = (client: WebClient, password = STRONG_PASSWORD) =>
    client.submit('/compte/codes-de-secours', { mot_de_passe_actuel: password, action: 'generer' });

  /** A fresh sign-in that picks « Code de secours » and gives `code`. */
  async function signInWith(login: string, code: string): Promise<WebResponse> {
    const client = portal.client();
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification/choix');
    const choice = await client.get('/verification/choix');
    expect(visible(choice.text)).toContain('Code de secours');
    const page = await client.post('/verification/choix', { _csrf: client.csrf(choice.text), methode: 'recovery' });
    expect(visible(page.text)).toContain('Saisissez l’un de vos codes de secours.');
    return client.submit('/verification', { code });
  }

  const left = async (client: WebClient) => /Il vous reste (\d+) code\(s\) de secours sur 10\./.exec(visible((await client.get('/compte')).text))?.[1];

  async function noticeMail(email: string, text: string) {
    await portal.deliver();
    return portal.smtp.waitFor((m) => m.to.includes(email) && /modification de la sécurité de votre compte/.test(m.subject) && m.text.includes(text));
  }

  it('generates 10 codes with the current password, shows them once, stores only their hashes', async () => {
    const { client, email, userId } = await admin('secours1');
    expect(visible((await client.get('/compte')).text)).toContain('Vous n’avez pas de codes de secours.');
    expect((await client.get('/compte')).text).toContain('<a href="/compte/codes-de-secours">Générer des codes de secours</a>');

    const none = await generate(client, '');
    expect(none.status).toBe(400);
    expect(errorSummary(none.text)).toEqual(['Le champ « Mot de passe actuel » est obligatoire.']);
    const wrong = await generate(client, 'Pas-le-bon-42!');
    expect(wrong.status).toBe(400);
    expect(errorSummary(wrong.text)).toEqual(['« Mot de passe actuel » est incorrect.']);
    expect(wrong.text).toContain('aria-describedby="mot_de_passe_actuel-aide mot_de_passe_actuel-erreur-0" aria-invalid="true"');
    expect(codesOnPage(wrong.text)).toEqual([]);

    const shown = await generate(client);
    expect(shown.status).toBe(200);
    expect(shown.headers.get('cache-control')).toBe('no-store');
    const codes = codesOnPage(shown.text);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(RECOVERY_SHAPE);
    expect(visible(shown.text)).toContain('Ils ne seront plus jamais affichés : imprimez-les ou enregistrez-les');

    // The second view shows how many remain, never the codes.
    const again = await client.get('/compte/codes-de-secours');
    expect(codesOnPage(again.text)).toEqual([]);
    for (const c of codes) expect(again.text).not.toContain(c);
    expect(visible(again.text)).toContain('Il vous reste 10 code(s) de secours sur 10.');
    expect(await left(client)).toBe('10');

    const rows = await portal.ctx.db.selectFrom('recovery_codes').selectAll().where('user_id', '=', userId).execute();
    expect(rows).toHaveLength(10);
    const expected = await Promise.all(codes.map((c) => hashRecoveryCode(portal.ctx, userId, c)));
    expect(rows.map((r) => r.code_hash).sort()).toEqual([...expected].sort());
    for (const r of rows) {
      expect(r.code_hash).toMatch(/^[0-9a-f]{64}$/);
      for (const c of codes) expect(r.code_hash).not.toContain(c.replace(/-/g, ''));
    }

    const mail = await noticeMail(email, 'codes de secours');
    expect(mail.text).toContain('Des codes de secours (10) ont été générés pour votre compte.');
    for (const c of codes) expect(mail.text).not.toContain(c);
    const added = (await auditOf(portal, userId)).filter((e) => e.type === 'second-factor.method.added');
    expect(added.map((e) => e.details)).toEqual([{ method: 'recovery', count: 10, replaced: 0 }]);
    for (const e of await auditOf(portal, userId)) for (const c of codes) expect(JSON.stringify(e.details)).not.toContain(c);
  });

  it('lets each code in once at sign-in, and the count goes down', async () => {
    const { client } = await admin('secours2');
    const codes = codesOnPage((await generate(client)).text);
    // Typed as people do: lower case, without dashes.
    expect((await signInWith('secours2', ` ${codes[0]!.toLowerCase().replace(/-/g, '')} `)).location).toBe('/compte');
    expect(await left(client)).toBe('9');
    const reused = await signInWith('secours2', codes[0]!);
    expect(reused.status).toBe(400);
    expect(errorSummary(reused.text)[0]).toMatch(/^« Code » est incorrect/);
    expect((await signInWith('secours2', codes[1]!)).location).toBe('/compte');
    expect(await left(client)).toBe('8');
    const badShape = await signInWith('secours2', '1234-5678');
    expect(badShape.status).toBe(400);
  });

  it('regenerating voids the old codes; deleting them takes the method away', async () => {
    const { client, email, userId } = await admin('secours3');
    const first = codesOnPage((await generate(client)).text);
    expect((await signInWith('secours3', first[0]!)).location).toBe('/compte');
    const page = await client.get('/compte/codes-de-secours');
    expect(visible(page.text)).toContain('Générer de nouveaux codes remplace les anciens : ils ne fonctionneront plus.');
    const second = codesOnPage((await generate(client)).text);
    expect(second).toHaveLength(10);
    expect(second.some((c) => first.includes(c))).toBe(false);
    const mail = await noticeMail(email, 'De nouveaux codes');
    expect(mail.text).toContain('De nouveaux codes de secours (10) ont été générés pour votre compte : les codes précédents ne fonctionnent plus.');
    expect((await signInWith('secours3', first[1]!)).status).toBe(400);
    expect((await signInWith('secours3', second[0]!)).location).toBe('/compte');
    expect(await left(client)).toBe('9');
    expect(await portal.ctx.db.selectFrom('recovery_codes').select('id').where('user_id', '=', userId).execute()).toHaveLength(10);

    // « Supprimer mes codes de secours »: the same form's second button.
    const removed = await client.submit('/compte/codes-de-secours', { mot_de_passe_actuel: STRONG_PASSWORD, action: 'supprimer' });
    expect(removed.location).toBe('/compte?ok=codes-de-secours-supprimes#securite');
    expect(visible((await client.follow(removed)).text)).toContain('Vos codes de secours ont été supprimés.');
    expect(await left(client)).toBeUndefined();
    await noticeMail(email, 'Vos codes de secours ont été supprimés');
    const events = (await auditOf(portal, userId)).filter((e) => e.type.startsWith('second-factor.method.'));
    expect(events.map((e) => [e.type, e.details])).toEqual([
      ['second-factor.method.added', { method: 'recovery', count: 10, replaced: 0 }],
      ['second-factor.method.added', { method: 'recovery', count: 10, replaced: 9 }],
      ['second-factor.method.removed', { method: 'recovery', count: 9 }],
    ]);
    // Only the e-mail remains: no choice page at sign-in.
    expect((await portal.client().submit('/connexion', { identifiant: 'secours3', mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification');
  });
});
