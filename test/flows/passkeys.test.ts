// Passkeys (WebAuthn) through the portal's HTTP interface, with a software authenticator standing in
// for the browser and the device: registration in « Mon compte » (after the current password), sign-in
// at /verification/cle, removal; audit, notice mails, refusals (foreign credential, look-alike origin,
// replayed answers, a counter that does not move forward).

import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGISTRATION_TTL_MS } from '../../src/flows/passkeys.ts';
import { decodeEntities, type WebClient, type WebResponse } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import { auditOf, errorSummary, PORTAL_START_TIMEOUT, visible } from './helpers.ts';

const PUBLIC_URL = 'https://portail.test.example';
const CODE_IN_MAIL = /Code : (\d{6})/;
const b64u = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

// ——— A minimal CBOR encoder (RFC 8949): the few types an attestation object needs ———

type Cbor = number | string | Uint8Array | Map<number | string, Cbor>;

/** The initial byte(s) of an item: major type in the top 3 bits, then the length or value. */
function head(major: number, n: number): Buffer {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  throw new Error('cbor: value too large for this encoder');
}

function cbor(value: Cbor): Buffer {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value); // unsigned / negative integer
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value, 'utf8')]); // text
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]); // bytes
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])]); // map
}

// ——— A software authenticator: one ES256 passkey ———

const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const FLAG_UP = 0x01; // user present
const FLAG_UV = 0x04; // user verified
const FLAG_AT = 0x40; // attested credential data follows

class SoftAuthenticator {
  readonly rawId = randomBytes(32);
  readonly id = b64u(this.rawId);
  counter = 0;
  private readonly privateKey: KeyObject;
  private readonly coseKey: Buffer;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    // COSE_Key (RFC 9053): kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y.
    this.coseKey = cbor(new Map<number, Cbor>([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x!, 'base64url')], [-3, Buffer.from(jwk.y!, 'base64url')]]));
  }

  /** authenticatorData: SHA-256 of the RP ID, flags, big-endian signature counter, then `extra`. */
  private authData(rpId: string, flags: number, extra: Buffer = Buffer.alloc(0)): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(this.counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, extra]);
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** navigator.credentials.create with attestation 'none', as @simplewebauthn/browser would post it. */
  register(options: { challenge: string; rp: { id?: string } }, origin = PUBLIC_URL) {
    const length = Buffer.alloc(2);
    length.writeUInt16BE(this.rawId.length);
    const attested = Buffer.concat([Buffer.alloc(16) /* AAGUID */, length, this.rawId, this.coseKey]);
    const authData = this.authData(options.rp.id ?? new URL(origin).hostname, FLAG_UP | FLAG_UV | FLAG_AT, attested);
    const attestationObject = cbor(new Map<string, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    return {
      id: this.id, rawId: this.id, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: { clientDataJSON: b64u(this.clientData('webauthn.create', options.challenge, origin)), attestationObject: b64u(attestationObject), transports: ['internal'] },
    };
  }

  /** navigator.credentials.get: the counter moves, then authData ‖ SHA-256(clientDataJSON) is signed (DER). */
  assert(options: { challenge: string; rpId?: string }, origin = PUBLIC_URL) {
    this.counter += 1;
    const authData = this.authData(options.rpId ?? new URL(origin).hostname, FLAG_UP | FLAG_UV);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), this.privateKey);
    return {
      id: this.id, rawId: this.id, type: 'public-key', clientExtensionResults: {},
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature) },
    };
  }
}

/** The WebAuthn options a page hands to /assets/passkeys.js (its data-options attribute). */
function optionsOf(html: string) {
  const raw = /data-options="([^"]*)"/.exec(html)?.[1];
  if (!raw) throw new Error(`no data-options in:\n${html.slice(0, 3000)}`);
  return JSON.parse(decodeEntities(raw));
}

describe.each(ENGINES)('passkeys on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); }, PORTAL_START_TIMEOUT);
  afterAll(async () => { await portal?.close(); });

  /** An admin past first connection (e-mailed code included): a signed-in client. */
  async function admin(login: string) {
    const user = await portal.createUser(login, { roles: ['admin'] });
    const client = portal.client();
    await client.submit('/connexion', { identifiant: login, mot_de_passe: user.temporary });
    const code = CODE_IN_MAIL.exec((await portal.mail(user.email, /code de connexion/)).text)![1]!;
    expect((await client.submit('/verification', { code })).location).toBe('/premiere-connexion');
    expect((await client.submit('/premiere-connexion', { nouveau_mot_de_passe: STRONG_PASSWORD, confirmation: STRONG_PASSWORD })).status).toBe(200);
    portal.smtp.clear();
    return { client, login, email: user.email, userId: user.userId };
  }

  /** « Ajouter une clé d'accès »: the password step; returns the ceremony page. */
  async function beginAdd(client: WebClient, fields: Record<string, string> = {}) {
    return client.submit('/compte/cles-d-acces/ajout', { mot_de_passe_actuel: STRONG_PASSWORD, ...fields });
  }

  /** The form of the ceremony page, posted with the authenticator's answer (what passkeys.js does). */
  function finishAdd(client: WebClient, page: WebResponse, answer: unknown) {
    const nom = decodeEntities(/<input type="hidden" name="nom" value="([^"]*)">/.exec(page.text)?.[1] ?? '');
    return client.post('/compte/cles-d-acces', { _csrf: client.csrf(page.text), nom, reponse: JSON.stringify(answer) });
  }

  async function addPasskey(client: WebClient, name: string, authenticator = new SoftAuthenticator()) {
    const page = await beginAdd(client, { nom: name });
    expect(page.status).toBe(200);
    expect((await finishAdd(client, page, authenticator.register(optionsOf(page.text)))).location).toBe('/compte?ok=cle-ajoutee#cles-acces');
    return authenticator;
  }

  /** Password step of a new sign-in, « Clé d'accès » chosen: returns the client and the /verification/cle page. */
  async function passkeyStep(login: string) {
    const client = portal.client();
    // Two methods (e-mail, passkey): the sign-in asks which one.
    expect((await client.submit('/connexion', { identifiant: login, mot_de_passe: STRONG_PASSWORD })).location).toBe('/verification/choix');
    expect((await client.submit('/verification/choix', { methode: 'webauthn' })).location).toBe('/verification/cle');
    const page = await client.get('/verification/cle');
    expect(page.status).toBe(200);
    return { client, page };
  }

  function answer(client: WebClient, page: WebResponse, response: unknown) {
    return client.post('/verification/cle', { _csrf: client.csrf(page.text), reponse: JSON.stringify(response) });
  }

  const details = (d: unknown) => (typeof d === 'string' ? JSON.parse(d) : d) as Record<string, unknown>;

  it('adds a passkey after the current password: options for this portal, audit, notice mail, listed in Mon compte', async () => {
    const { client, login, email, userId } = await admin('cle1');
    const account = await client.get('/compte');
    expect(visible(account.text)).toContain('Aucune clé d’accès n’est enregistrée.');
    expect(account.text).toContain('href="/compte/cles-d-acces/ajout"');

    const wrong = await beginAdd(client, { mot_de_passe_actuel: 'Pas-le-bon#Mot2passe' });
    expect(wrong.status).toBe(400);
    expect(errorSummary(wrong.text)).toEqual(['« Mot de passe actuel » est incorrect.']);
    expect(wrong.text).not.toContain('data-options');
    expect((await portal.ctx.db.selectFrom('users').select('failed_count').where('id', '=', userId).executeTakeFirstOrThrow()).failed_count).toBe(1);

    portal.smtp.clear();
    const page = await beginAdd(client, { nom: 'Ordinateur du cabinet' });
    expect(page.status).toBe(200);
    expect(visible(page.text)).toContain('Créer la clé d’accès');
    expect(page.text).toContain('<script src="/assets/vendor/simplewebauthn-browser.js" defer></script>');
    expect(page.text).toContain('<script src="/assets/passkeys.js" defer></script>');
    const options = optionsOf(page.text);
    expect(options.rp).toEqual({ name: 'Portail Test', id: 'portail.test.example' });
    expect(options.user.name).toBe(login);
    expect(options.attestation).toBe('none');
    expect(options.authenticatorSelection.userVerification).toBe('preferred');
    expect((await portal.ctx.db.selectFrom('users').select('failed_count').where('id', '=', userId).executeTakeFirstOrThrow()).failed_count).toBe(0);

    const authenticator = new SoftAuthenticator();
    const registration = authenticator.register(options);
    expect((await finishAdd(client, page, registration)).location).toBe('/compte?ok=cle-ajoutee#cles-acces');
    const listed = visible((await client.get('/compte?ok=cle-ajoutee')).text);
    expect(listed).toContain('La clé d’accès a été ajoutée.');
    expect(listed).toContain('Ordinateur du cabinet');
    expect(listed).toContain('Jamais utilisée');

    const row = await portal.ctx.db.selectFrom('webauthn_credentials').selectAll().where('user_id', '=', userId).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ id: authenticator.id, name: 'Ordinateur du cabinet', transports: ['internal'], last_used_at: null });
    expect(Number(row.counter)).toBe(0);
    const added = (await auditOf(portal, userId)).filter((e) => e.type === 'second-factor.method.added');
    expect(added.map((e) => details(e.details))).toEqual([{ method: 'webauthn', name: 'Ordinateur du cabinet' }]);
    const mail = await portal.mail(email, /modification de la sécurité de votre compte/);
    expect(mail.text.replace(/\s+/g, ' ')).toContain('Une clé d’accès (« Ordinateur du cabinet ») a été ajoutée à votre compte.');

    // The registration is single use: the same answer again finds nothing to complete.
    const replay = await finishAdd(client, page, registration);
    expect(replay.status).toBe(400);
    expect(visible(replay.text)).toContain('L’ajout de la clé d’accès a expiré');
    expect(await portal.ctx.db.selectFrom('webauthn_credentials').select('id').where('user_id', '=', userId).execute()).toHaveLength(1);
  });

  it('binds a registration to its session and to REGISTRATION_TTL_MS, and refuses an answer for another site', async () => {
    const { client, userId } = await admin('cle2');
    // Another session of the same person cannot complete the registration this one began.
    const other = portal.client();
    await other.submit('/connexion', { identifiant: 'cle2', mot_de_passe: STRONG_PASSWORD });
    const code = CODE_IN_MAIL.exec((await portal.mail('cle2@hopital.test.example', /code de connexion/)).text)![1]!;
    expect((await other.submit('/verification', { code })).location).toBe('/compte');
    const page = await beginAdd(client);
    const options = optionsOf(page.text);
    const elsewhere = await other.post('/compte/cles-d-acces', { _csrf: other.csrf((await other.get('/compte')).text), reponse: JSON.stringify(new SoftAuthenticator().register(options)) });
    expect(elsewhere.status).toBe(400);

    // A look-alike origin (phishing): refused, and the registration is spent.
    const phished = await finishAdd(client, page, new SoftAuthenticator().register(options, 'https://portail-test.example.net'));
    expect(phished.status).toBe(400);
    expect(visible(phished.text)).toContain('La clé d’accès n’a pas pu être enregistrée');

    // Too late.
    const late = await beginAdd(client);
    portal.clock.advance(REGISTRATION_TTL_MS + 1000);
    expect((await finishAdd(client, late, new SoftAuthenticator().register(optionsOf(late.text)))).status).toBe(400);
    expect(await portal.ctx.db.selectFrom('webauthn_credentials').select('id').where('user_id', '=', userId).execute()).toHaveLength(0);
  });

  it('signs in with the passkey chosen among the methods; a challenge answers once; the counter must move forward', async () => {
    const { client, login, userId } = await admin('cle3');
    const authenticator = await addPasskey(client, 'Clé USB');

    const { client: browser, page } = await passkeyStep(login);
    const choice = visible((await browser.get('/verification/choix')).text);
    expect(choice).toContain('Clé d’accès (passkey)');
    expect(choice).toContain('E-mail');
    expect(visible(page.text)).toContain('Utiliser ma clé d’accès');
    expect(page.text).toMatch(/<noscript>[\s\S]*Une clé d’accès nécessite JavaScript[\s\S]*<\/noscript>/);
    expect(page.text).toContain('<a href="/verification/choix">Choisir une autre méthode</a>');
    const options = optionsOf(page.text);
    expect(options.rpId).toBe('portail.test.example');
    expect(options.userVerification).toBe('preferred');
    expect(options.allowCredentials.map((c: { id: string }) => c.id)).toEqual([authenticator.id]);
    // Once « Clé d'accès » is chosen, /verification leads back to it.
    expect((await browser.get('/verification')).location).toBe('/verification/cle');

    const first = authenticator.assert(options);
    const passed = await answer(browser, page, first);
    expect(passed.location).toBe('/compte');
    expect((await browser.get('/compte')).status).toBe(200);
    const sessions = await portal.ctx.db.selectFrom('sessions').select('second_factor').where('user_id', '=', userId).execute();
    expect(sessions.filter((x) => x.second_factor === 'webauthn')).toHaveLength(1);
    const row = await portal.ctx.db.selectFrom('webauthn_credentials').selectAll().where('id', '=', authenticator.id).executeTakeFirstOrThrow();
    expect(Number(row.counter)).toBe(1);
    expect(row.last_used_at).not.toBeNull();
    const success = (await auditOf(portal, userId)).filter((e) => e.type === 'second-factor.success').at(-1)!;
    expect(details(success.details)).toEqual({ method: 'webauthn' });

    // A replayed answer: signed for a challenge that is gone.
    const again = await passkeyStep(login);
    const replay = await answer(again.client, again.page, first);
    expect(replay.status).toBe(400);
    expect(visible(replay.text)).toContain('La clé d’accès n’a pas été reconnue. Il vous reste 4 essai(s).');
    // A cloned authenticator: right signature, fresh challenge, but its counter has not moved forward.
    authenticator.counter = 0;
    const cloned = await answer(again.client, replay, authenticator.assert(optionsOf(replay.text)));
    expect(cloned.status).toBe(400);
    expect(visible(cloned.text)).toContain('Il vous reste 3 essai(s).');
    // The answer to the page's current challenge, counter ahead: accepted.
    authenticator.counter = 5;
    expect((await answer(again.client, cloned, authenticator.assert(optionsOf(cloned.text)))).location).toBe('/compte');
    expect(Number((await portal.ctx.db.selectFrom('webauthn_credentials').select('counter').where('id', '=', authenticator.id).executeTakeFirstOrThrow()).counter)).toBe(6);
  });

  it('refuses a foreign credential: another person’s passkey, an unknown one, one made for another site', async () => {
    const a = await admin('cle4');
    const b = await admin('cle5');
    const mine = await addPasskey(a.client, 'Téléphone');
    const theirs = await addPasskey(b.client, 'Téléphone');

    const { client, page } = await passkeyStep(a.login);
    const foreign = await answer(client, page, theirs.assert(optionsOf(page.text)));
    expect(foreign.status).toBe(400);
    const unknown = await answer(client, foreign, new SoftAuthenticator().assert(optionsOf(foreign.text)));
    expect(unknown.status).toBe(400);
    const phished = await answer(client, unknown, mine.assert(optionsOf(unknown.text), 'https://portail.test.example.evil.test'));
    expect(phished.status).toBe(400);
    expect(visible(phished.text)).toContain('Il vous reste 2 essai(s).');
    const failures = (await auditOf(portal, a.userId)).filter((e) => e.type === 'second-factor.failure');
    expect(failures.map((e) => details(e.details))).toEqual(Array(3).fill({ method: 'webauthn', reason: 'wrong' }));
    expect((await answer(client, phished, mine.assert(optionsOf(phished.text)))).location).toBe('/compte');

    // B's credential cannot be registered to A's account either.
    const add = await beginAdd(a.client);
    const duplicate = await finishAdd(a.client, add, theirs.register(optionsOf(add.text)));
    expect(duplicate.status).toBe(400);
    expect(visible(duplicate.text)).toContain('Cette clé d’accès est déjà enregistrée.');
  });

  it('removes a passkey after the current password: audit, notice mail, and the method leaves the sign-in', async () => {
    const { client, login, email, userId } = await admin('cle6');
    const other = await admin('cle7');
    const authenticator = await addPasskey(client, 'Portable');
    const foreign = await addPasskey(other.client, 'Portable');
    const account = await client.get('/compte');
    const href = `/compte/cles-d-acces/suppression?cle=${authenticator.id}`;
    expect(account.text).toContain(`<a href="${href}" aria-label="Supprimer la clé d’accès « Portable »">Supprimer</a>`);

    // Someone else's passkey: nothing to remove here.
    expect((await client.get(`/compte/cles-d-acces/suppression?cle=${foreign.id}`)).location).toBe('/compte#cles-acces');
    const page = await client.get(href);
    expect(visible(page.text)).toContain('La clé d’accès « Portable » ne permettra plus de vous connecter.');
    const wrong = await client.post('/compte/cles-d-acces/suppression', { _csrf: client.csrf(page.text), cle: authenticator.id, mot_de_passe_actuel: 'Pas-le-bon#Mot2passe' });
    expect(wrong.status).toBe(400);
    expect(errorSummary(wrong.text)).toEqual(['« Mot de passe actuel » est incorrect.']);

    await portal.deliver();
    portal.smtp.clear();
    const removed = await client.post('/compte/cles-d-acces/suppression', { _csrf: client.csrf(page.text), cle: authenticator.id, mot_de_passe_actuel: STRONG_PASSWORD });
    expect(removed.location).toBe('/compte?ok=cle-supprimee#cles-acces');
    expect(visible((await client.get('/compte?ok=cle-supprimee')).text)).toContain('La clé d’accès a été supprimée.');
    expect(await portal.ctx.db.selectFrom('webauthn_credentials').select('id').where('user_id', '=', userId).execute()).toHaveLength(0);
    expect(await portal.ctx.db.selectFrom('webauthn_credentials').select('id').where('id', '=', foreign.id).execute()).toHaveLength(1);
    const events = (await auditOf(portal, userId)).filter((e) => e.type === 'second-factor.method.removed');
    expect(events.map((e) => details(e.details))).toEqual([{ method: 'webauthn', name: 'Portable' }]);
    const mail = await portal.mail(email, /modification de la sécurité de votre compte/);
    expect(mail.text.replace(/\s+/g, ' ')).toContain('La clé d’accès « Portable » a été supprimée de votre compte');

    // E-mail is the only method left: no choice, and /verification/cle sends back to the code.
    const browser = portal.client();
    await browser.submit('/connexion', { identifiant: login, mot_de_passe: STRONG_PASSWORD });
    expect((await browser.get('/verification')).status).toBe(200);
    expect((await browser.get('/verification/cle')).location).toBe('/verification');
  });

  it('serves the browser library and the page script', async () => {
    const client = portal.client();
    const library = await client.get('/assets/vendor/simplewebauthn-browser.js');
    expect(library.status).toBe(200);
    expect(library.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(library.text).toContain('SimpleWebAuthnBrowser');
    const script = await client.get('/assets/passkeys.js');
    expect(script.status).toBe(200);
    expect(script.text).toContain('startAuthentication');
  });
});
