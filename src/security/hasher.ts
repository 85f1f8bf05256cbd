import { Algorithm, hash, verify } from '@node-rs/argon2';

/**
 * argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane). @node-rs/argon2 runs on libuv's thread
 * pool, so the event loop never waits for a hash; a semaphore bounds how many hashes run and wait at
 * once, so a flood gets "busy" answers instead of exhausting memory.
 */
export interface HashParams {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
}

export const OWASP_PARAMS: HashParams = { memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export class HasherBusyError extends Error {
  constructor() {
    super('Password hasher saturated');
    this.name = 'HasherBusyError';
  }
}

export class PasswordHasher {
  #running = 0;
  #waiting: (() => void)[] = [];
  /** Hash of a random password, verified against when the account does not exist, to spend the same time. */
  #dummy: Promise<string>;

  constructor(
    readonly params: HashParams = OWASP_PARAMS,
    private readonly concurrency = 4,
    private readonly queueLimit = 64,
  ) {
    this.#dummy = hash(`dummy-${Math.random()}-${Date.now()}`, { ...params, algorithm: Algorithm.Argon2id });
    this.#dummy.catch(() => {});
  }

  hash(password: string): Promise<string> {
    return this.#slot(() => hash(password, { ...this.params, algorithm: Algorithm.Argon2id }));
  }

  verify(phc: string, password: string): Promise<boolean> {
    return this.#slot(() => verify(phc, password).catch(() => false));
  }

  /** Spends the time of a real verification and answers false. */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(await this.#dummy, password);
    return false;
  }

  /** True when the stored hash was made with other parameters (or another algorithm): rehash at login. */
  needsRehash(phc: string): boolean {
    const match = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(phc);
    if (!match) return true;
    return Number(match[1]) !== this.params.memoryCost
      || Number(match[2]) !== this.params.timeCost
      || Number(match[3]) !== this.params.parallelism;
  }

  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  async #slot<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.concurrency) {
      if (this.#waiting.length >= this.queueLimit) throw new HasherBusyError();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
