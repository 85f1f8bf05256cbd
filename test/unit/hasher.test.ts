import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HasherBusyError, OWASP_PARAMS, PasswordHasher } from '../../src/security/hasher.ts';
import { ENGINES, startPortal, TEST_HASH_PARAMS, type Portal } from '../support/portal.ts';

describe('password hasher', () => {
  it('uses argon2id with the OWASP parameters and stores them in the hash', async () => {
    const hasher = new PasswordHasher();
    const phc = await hasher.hash('Un mot de passe sûr 42!');
    expect(phc).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(OWASP_PARAMS).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    expect(await hasher.verify(phc, 'Un mot de passe sûr 42!')).toBe(true);
    expect(await hasher.verify(phc, 'Un mot de passe sûr 43!')).toBe(false);
    expect(hasher.needsRehash(phc)).toBe(false);
  });

  it('asks for a rehash when the parameters or the algorithm differ', async () => {
    const cheap = new PasswordHasher(TEST_HASH_PARAMS);
    const phc = await cheap.hash('x');
    expect(new PasswordHasher().needsRehash(phc)).toBe(true);
    expect(cheap.needsRehash(phc)).toBe(false);
    expect(cheap.needsRehash('$2b$10$abcdefghijklmnopqrstuv')).toBe(true);
  });

  it('answers false for a malformed stored hash instead of throwing', async () => {
    expect(await new PasswordHasher(TEST_HASH_PARAMS).verify('not-a-hash', 'x')).toBe(false);
  });

  it('refuses work beyond its concurrency and queue instead of piling it up', async () => {
    const hasher = new PasswordHasher(TEST_HASH_PARAMS, 1, 1);
    const results = await Promise.allSettled([hasher.hash('a'), hasher.hash('b'), hasher.hash('c'), hasher.hash('d')]);
    const busy = results.filter((r) => r.status === 'rejected');
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    expect(busy).toHaveLength(2);
    for (const r of busy) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(HasherBusyError);
    expect(hasher.load).toEqual({ running: 0, waiting: 0 });
  });
});

describe.each(ENGINES)('rehash at sign-in on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  it('rehashes a password with the current parameters when the user signs in', async () => {
    const { login, password, userId } = await portal.activeUser('rehash');
    const before = await portal.ctx.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow();
    expect(before.password_hash).toContain('m=4096,t=1,p=1');
    const stronger = { memoryCost: 8192, timeCost: 2, parallelism: 1 };
    portal.ctx.hasher = new PasswordHasher(stronger);
    const res = await portal.client().submit('/connexion', { identifiant: login, mot_de_passe: password });
    expect(res.location).toBe('/compte');
    const after = await portal.ctx.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow();
    expect(after.password_hash).toContain('m=8192,t=2,p=1');
    expect(await portal.ctx.hasher.verify(after.password_hash!, password)).toBe(true);
    portal.ctx.hasher = new PasswordHasher(TEST_HASH_PARAMS);
  });
});
