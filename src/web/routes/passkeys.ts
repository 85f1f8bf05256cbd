import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { FieldError } from '../../flows/common.ts';
import {
  beginPasskeyRegistration, cleanName, findPasskey, finishPasskeyRegistration, MAX_PASSKEYS, MAX_PASSKEY_NAME, MAX_RESPONSE_LENGTH,
  passkeyCheck, passkeySignInOptions, removePasskey,
} from '../../flows/passkeys.ts';
import { REAUTH_FIELD } from '../../flows/reauthenticate.ts';
import { chooseMethod, guess, loadChallenge, type OpenChallenge } from '../../flows/second-factor.ts';
import { describeDuration } from '../../domain/durations.ts';
import { checked, field } from '../form.ts';
import type { MessageKey } from '../i18n.ts';
import { renderPage, wordErrors } from '../render.ts';
import { CHALLENGE_COOKIE, clearChallengeCookie, clearSessionCookie, DEVICE_COOKIE, enterAfterSecondFactor, homeFor } from '../session-cookie.ts';
import { describeDevice } from '../user-agent.ts';

/** The browser half of the ceremonies, served from node_modules (UMD build: window.SimpleWebAuthnBrowser). */
export const BROWSER_LIBRARY_PATH = '/assets/vendor/simplewebauthn-browser.js';

function browserLibrary(): Buffer {
  const require = createRequire(import.meta.url);
  // The package exports only its entry points: its bundle is found next to the CommonJS one.
  const main = require.resolve('@simplewebauthn/browser'); // …/@simplewebauthn/browser/script/index.js
  return readFileSync(path.join(path.dirname(main), '..', 'dist', 'bundle', 'index.umd.min.js'));
}

/**
 * Passkeys: « Ajouter une clé d'accès » and « Supprimer » in « Mon compte » (each after the current
 * password), and the /verification/cle step of the sign-in. The ceremonies run in /assets/passkeys.js,
 * which puts the browser's answer in the form and submits it: every outcome is an ordinary page.
 */
export async function passkeyRoutes(app: FastifyInstance) {
  const { ctx } = app;
  const library = browserLibrary();

  app.get(BROWSER_LIBRARY_PATH, async (_req, reply) => {
    reply.header('Cache-Control', 'public, max-age=3600');
    return reply.type('text/javascript; charset=utf-8').send(library);
  });

  // ——— « Mon compte » ———

  const requireFull = (req: FastifyRequest, reply: FastifyReply): boolean => {
    if (req.auth?.session.scope === 'full') return true;
    void reply.redirect(req.auth ? homeFor(req) : '/connexion', 303);
    return false;
  };

  /** The add and remove pages share one view: `step` is 'password', 'ceremony' or 'remove'. */
  const showPage = (
    req: FastifyRequest,
    reply: FastifyReply,
    data: { step: 'password' | 'ceremony' | 'remove'; failure?: string; errors?: FieldError[]; name?: string; options?: unknown; passkey?: { id: string; name: string } },
    status = 200,
  ) => renderPage(req, reply, 'account-passkey-add', {
    title: req.t(data.step === 'remove' ? 'passkey.remove.title' : 'passkey.add.title'),
    step: data.step,
    failure: data.failure,
    name: data.name ?? '',
    nameMax: MAX_PASSKEY_NAME,
    options: data.options === undefined ? '' : JSON.stringify(data.options),
    passkey: data.passkey,
    libraryPath: BROWSER_LIBRARY_PATH,
    passwordField: REAUTH_FIELD,
    errors: wordErrors(req, data.errors ?? []),
  }, status);

  const locked = (req: FastifyRequest, reply: FastifyReply) => {
    clearSessionCookie(reply);
    req.auth = null;
    return renderPage(req, reply, 'login', { title: req.t('login.title'), failed: req.t('account.locked') }, 403);
  };

  const tooMany = (req: FastifyRequest) => req.t('passkey.add.tooMany', { max: MAX_PASSKEYS });

  app.get('/compte/cles-d-acces/ajout', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    return showPage(req, reply, { step: 'password' });
  });

  app.post('/compte/cles-d-acces/ajout', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const { user, session } = req.auth!;
    const name = cleanName(field(req.body, 'nom', 200), describeDevice(req.origin.userAgent, req.lang));
    const begun = await beginPasskeyRegistration(ctx, user, session, field(req.body, REAUTH_FIELD), req.origin);
    if (begun.ok) return showPage(req, reply, { step: 'ceremony', name, options: begun.options });
    if (begun.reason === 'too-many') return showPage(req, reply, { step: 'password', name, failure: tooMany(req) }, 409);
    if (begun.locked) return locked(req, reply);
    return showPage(req, reply, { step: 'password', name, errors: begun.errors }, 400);
  });

  app.post('/compte/cles-d-acces', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const { user, session } = req.auth!;
    const name = cleanName(field(req.body, 'nom', 200), describeDevice(req.origin.userAgent, req.lang));
    const done = await finishPasskeyRegistration(ctx, user, session, { response: field(req.body, 'reponse', MAX_RESPONSE_LENGTH), name }, req.origin);
    if (done.ok) return reply.redirect('/compte?ok=cle-ajoutee#cles-acces', 303);
    const failure: Record<typeof done.reason, string> = {
      expired: req.t('passkey.add.expired'),
      invalid: req.t('passkey.add.invalid'),
      duplicate: req.t('passkey.add.duplicate'),
      'too-many': tooMany(req),
    };
    return showPage(req, reply, { step: 'password', name, failure: failure[done.reason] }, 400);
  });

  app.get('/compte/cles-d-acces/suppression', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const id = String((req.query as Record<string, unknown>).cle ?? '');
    const passkey = await findPasskey(ctx, req.auth!.user.id, id);
    if (!passkey) return reply.redirect('/compte#cles-acces', 303);
    return showPage(req, reply, { step: 'remove', passkey: { id: passkey.id, name: passkey.name } });
  });

  app.post('/compte/cles-d-acces/suppression', async (req, reply) => {
    if (!requireFull(req, reply)) return reply;
    const { user } = req.auth!;
    const id = field(req.body, 'cle', 2000);
    const passkey = await findPasskey(ctx, user.id, id);
    if (!passkey) return reply.redirect('/compte#cles-acces', 303);
    const removed = await removePasskey(ctx, user, id, field(req.body, REAUTH_FIELD), req.origin);
    if (removed.ok) return reply.redirect('/compte?ok=cle-supprimee#cles-acces', 303);
    if (removed.reason === 'unknown') return reply.redirect('/compte#cles-acces', 303);
    if (removed.locked) return locked(req, reply);
    return showPage(req, reply, { step: 'remove', passkey: { id: passkey.id, name: passkey.name }, errors: removed.errors }, 400);
  });

  // ——— Sign-in: « Clé d'accès » chosen on /verification/choix ———

  const current = (req: FastifyRequest) => loadChallenge(ctx, req.cookies[CHALLENGE_COOKIE]);

  const backToLogin = (req: FastifyRequest, reply: FastifyReply, message: MessageKey) => {
    clearChallengeCookie(reply);
    return renderPage(req, reply, 'login', { title: req.t('login.title'), failed: req.t(message) }, 401);
  };

  const showSignIn = async (req: FastifyRequest, reply: FastifyReply, open: OpenChallenge, extra: { failure?: string; trust?: boolean } = {}, status = 200) => {
    const options = await passkeySignInOptions(ctx, open);
    return renderPage(req, reply, 'second-factor-passkey', {
      title: req.t('2fa.title'),
      options: JSON.stringify(options),
      libraryPath: BROWSER_LIBRARY_PATH,
      failure: extra.failure,
      values: { confiance: extra.trust ? '1' : '' },
      trustDuration: describeDuration(ctx.config.trustedBrowserTtlMs, req.lang),
      otherMethods: open.methods.length > 1,
    }, status);
  };

  /** The sign-in attempt, with « Clé d'accès » as its method (chosen now if it was not). */
  const withPasskey = async (req: FastifyRequest, open: OpenChallenge): Promise<OpenChallenge | undefined> => {
    if (!open.methods.includes('webauthn')) return undefined;
    if (open.challenge.method === 'webauthn') return open;
    await chooseMethod(ctx, open, 'webauthn', req.origin);
    return { ...open, challenge: { ...open.challenge, method: 'webauthn' } };
  };

  app.get('/verification/cle', async (req, reply) => {
    const found = await current(req);
    if (!found) return backToLogin(req, reply, '2fa.expired');
    const open = await withPasskey(req, found);
    if (!open) return reply.redirect('/verification', 303);
    return showSignIn(req, reply, open);
  });

  app.post('/verification/cle', async (req, reply) => {
    const found = await current(req);
    if (!found) return backToLogin(req, reply, '2fa.expired');
    const open = await withPasskey(req, found);
    if (!open) return reply.redirect('/verification', 303);
    const trust = checked(req.body, 'confiance');
    const outcome = await guess(ctx, open, passkeyCheck(ctx, open, field(req.body, 'reponse', MAX_RESPONSE_LENGTH)), trust, req.origin, req.cookies[DEVICE_COOKIE]);
    if (outcome.ok) return enterAfterSecondFactor(reply, outcome, ctx.config.trustedBrowserTtlMs);
    if (outcome.reason === 'over') return backToLogin(req, reply, '2fa.over');
    return showSignIn(req, reply, open, { failure: req.t('passkey.signin.wrong', { left: outcome.left }), trust }, 400);
  });
}
