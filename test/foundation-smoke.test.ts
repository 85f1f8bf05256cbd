import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINES, startPortal, STRONG_PASSWORD, type Portal } from './support/portal.ts';

describe.each(ENGINES)('smoke on %s', (engine) => {
  let portal: Portal;
  beforeAll(async () => { portal = await startPortal(engine); });
  afterAll(async () => { await portal?.close(); });

  it('creates an account, signs in with the temporary password, sets a password, reaches Mon compte', async () => {
    const { client, login } = await portal.activeUser('cmartin');
    const account = await client.get('/compte');
    expect(account.status).toBe(200);
    expect(account.text).toContain(login);
    const confirmation = await portal.mail('cmartin@hopital.test.example', /changement de mot de passe/);
    expect(confirmation.text).toContain('Votre changement de mot de passe a bien été pris en compte');
    expect(confirmation.text).toContain('01 23 45 67 89');
    const again = portal.client();
    const signIn = await again.submit('/connexion', { identifiant: login, mot_de_passe: STRONG_PASSWORD });
    expect(signIn.location).toBe('/compte');
  });
});
