import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMessageKey, translator } from '../../src/web/i18n.ts';

const VIEWS = path.resolve(import.meta.dirname, '../../src/web/views');

function viewFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? viewFiles(path.join(dir, e.name)) : e.name.endsWith('.eta') ? [path.join(dir, e.name)] : []);
}

describe('wording', () => {
  it('has every key the views use literally, in French and in English', () => {
    const missing: string[] = [];
    let seen = 0;
    for (const file of viewFiles(VIEWS)) {
      const text = fs.readFileSync(file, 'utf8');
      for (const match of text.matchAll(/\bt\(\s*'([^']+)'\s*[,)]/g)) {
        seen++;
        if (!isMessageKey(match[1]!)) missing.push(`${path.basename(file)}: ${match[1]}`);
      }
    }
    expect(seen).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });

  it('translates every key to English rather than falling back to French or the key', () => {
    const fr = translator('fr');
    const en = translator('en');
    const same = ['2fa.code', 'audit.col.at', 'nav.support', 'support.title', 'support.col.message', 'support.user.actions', 'notMe.message', 'lang.name', 'lang.switch', '2fa.method.email', 'account.activity.when', 'mailbox.date', 'password.changed.title', 'forgot.done.title', 'login.title']
      .filter((k) => isMessageKey(k));
    // A few words are the same in both languages (listed above); everything else must differ.
    const keys = new Set<string>();
    for (const file of viewFiles(VIEWS)) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/\bt\(\s*'([^']+)'\s*[,)]/g)) keys.add(m[1]!);
    }
    const untranslated = [...keys].filter((k) => isMessageKey(k) && !same.includes(k) && fr(k) === en(k) && /[a-zà-ÿ]{4,}/i.test(fr(k)));
    expect(untranslated).toEqual([]);
  });

  it('labels every audit event type, for « Mon compte » and the audit page', () => {
    const source = fs.readFileSync(path.resolve(import.meta.dirname, '../../src/store/audit.ts'), 'utf8');
    const union = /export type AuditType =([^;]+);/.exec(source)![1]!;
    const types = [...union.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
    expect(types.length).toBeGreaterThan(30);
    expect(types.filter((t) => !isMessageKey(`audit.${t}`))).toEqual([]);
  });
});
