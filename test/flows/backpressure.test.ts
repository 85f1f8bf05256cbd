// Hasher back-pressure: beyond SESAME_HASH_CONCURRENCY running and SESAME_HASH_QUEUE waiting, a request
// gets 503 + Retry-After at once; the others are answered normally, and a refused request costs no guess.
//
// argon2's verify is held behind a gate the test opens, so "the hasher is busy" is a fact rather than a
// race: the requests that arrive while one verification holds the only slot must be turned away.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WebClient, WebResponse } from '../support/http.ts';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from '../support/portal.ts';
import { csrfFrom, expectNoInternals, GENERIC_FAILURE, signIn, START_TIMEOUT, userRow, WRONG_PASSWORD } from './auth-helpers.ts';

const gate = vi.hoisted(() => {
  let opened: Promise<void> = Promise.resolve();
  let release = () => {};
  let entered: (() => void) | undefined;
  return {
    /** Holds every verification from now on; resolves when the first one is being held. */
    close(): Promise<void> {
      opened = new Promise<void>((resolve) => { release = resolve; });
      return new Promise<void>((resolve) => { entered = resolve; });
    },
    open() { release(); opened = Promise.resolve(); },
    async pass() {
      const wait = opened;
      entered?.();
      entered = undefined;
      await wait;
    },
  };
});

vi.mock('@node-rs/argon2', async (importOriginal) => {
  const real = await importOriginal<typeof import('@node-rs/argon2')>();
  return {
    ...real,
    verify: async (...args: Parameters<typeof real.verify>) => {
      await gate.pass();
      return real.verify(...args);
    },
  };
});

const BUSY = 'Le service est très sollicité. Réessayez dans quelques secondes.';

describe.each(ENGINES)('hasher back-pressure (%s)', (engine) => {
  let portal: Portal;
  beforeAll(async () => {
    portal = await startPortal(engine, { SESAME_HASH_CONCURRENCY: '1', SESAME_HASH_QUEUE: '0', SESAME_IP_FAILURE_LIMIT: '100000' });
  }, START_TIMEOUT);
  /** Requests that may be held at the gate: a failing test must still let them finish before the portal closes. */
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(request: Promise<T>): Promise<T> => {
    inFlight.add(request);
    return request;
  };
  afterEach(async () => {
    gate.open();
    await Promise.allSettled(inFlight);
    inFlight.clear();
  });
  afterAll(async () => { await portal?.close(); });

  const expectBusy = (res: WebResponse, label: string) => {
    expect(res.status, label).toBe(503);
    expect(res.headers.get('retry-after'), label).toMatch(/^\d+$/);
    expect(res.text, label).toContain(BUSY);
    expect(res.text, label).toMatch(/<html lang="fr">/);
    expectNoInternals({ status: 200, text: res.text }, label);
  };
  const prepared = async (n: number) => {
    const clients: { client: WebClient; token: string }[] = [];
    for (let i = 0; i < n; i++) {
      const client = portal.client();
      clients.push({ client, token: await csrfFrom(client, '/connexion') });
    }
    return clients;
  };

  it('turns away the sign-ins beyond concurrency + queue with 503 and Retry-After, and answers the others normally', async () => {
    expect([portal.config.hashConcurrency, portal.config.hashQueue]).toEqual([1, 0]);
    const alice = await portal.activeUser('presse.alice');
    const bob = await portal.activeUser('presse.bob');
    const attempts: [string, string, number][] = [
      [alice.login, STRONG_PASSWORD, 303],
      [alice.login, WRONG_PASSWORD, 401],
      ['presse.inconnu', WRONG_PASSWORD, 401],
      [bob.email, STRONG_PASSWORD, 303],
      [bob.login, WRONG_PASSWORD, 401],
      ['presse.inconnue@hopital.test.example', STRONG_PASSWORD, 401],
    ];
    const clients = await prepared(attempts.length);
    const held = gate.close();
    let settled = 0;
    const responses = await Promise.all(attempts.map(([identifier, password], i) =>
      track(clients[i]!.client.post('/connexion', { _csrf: clients[i]!.token, identifiant: identifier, mot_de_passe: password }))
        .then((res) => {
          // Once every request but the one holding the hasher has its answer, let that one finish.
          if (++settled === attempts.length - 1) gate.open();
          return res;
        })));
    await held;
    const busy = responses.filter((r) => r.status === 503);
    expect(busy.length).toBe(attempts.length - 1);
    for (const [i, res] of responses.entries()) {
      const [identifier, password, normal] = attempts[i]!;
      const label = `${identifier} / ${password === STRONG_PASSWORD ? 'right' : 'wrong'} password`;
      expect(res.status, label).toBeLessThan(600);
      if (res.status === 503) expectBusy(res, label);
      else {
        expect(res.status, label).toBe(normal);
        if (normal === 401) expect(res.text).toContain(GENERIC_FAILURE);
        else expect(res.location).toBe('/compte');
      }
    }

    // Once the hasher is free again, the same attempts, one after the other, are all answered normally.
    for (const [i, [identifier, password, normal]] of attempts.entries()) {
      const res = await clients[i]!.client.post('/connexion', { _csrf: clients[i]!.token, identifiant: identifier, mot_de_passe: password });
      expect(res.status, identifier).toBe(normal);
    }
  });

  it('does not count a sign-in turned away by the busy hasher as a guess towards the lockout', async () => {
    const threshold = portal.config.lockoutThreshold;
    const carol = await portal.activeUser('presse.carol');
    const [holder, ...others] = await prepared(threshold + 2);
    const held = gate.close();
    const holding = track(holder!.client.post('/connexion', { _csrf: holder!.token, identifiant: 'presse.personne', mot_de_passe: WRONG_PASSWORD }));
    await held;
    for (const { client, token } of others) {
      expectBusy(await client.post('/connexion', { _csrf: token, identifiant: carol.login, mot_de_passe: WRONG_PASSWORD }), 'sign-in');
    }
    // « Changer mon mot de passe » asks for the current password: turned away the same way.
    const accountToken = await csrfFrom(carol.client, '/compte');
    const change = await carol.client.post('/compte/mot-de-passe', { _csrf: accountToken, ancien_mot_de_passe: WRONG_PASSWORD, nouveau_mot_de_passe: 'Autre#Mot2passe-Neuf', confirmation: 'Autre#Mot2passe-Neuf' });
    expectBusy(change, 'password change');
    gate.open();
    expect((await holding).status).toBe(401);

    // No password of Carol's was checked: her account is as before, and her password still opens it.
    const row = await userRow(portal, carol.login);
    expect(row.failed_count).toBe(0);
    expect(row.locked_at).toBeNull();
    expect((await carol.client.get('/compte')).status).toBe(200);
    expect((await signIn(portal.client(), carol.login, STRONG_PASSWORD)).location).toBe('/compte');
  });
});
