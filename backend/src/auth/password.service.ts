import { Injectable } from '@nestjs/common';
import argon2 from 'argon2';

// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;

@Injectable()
export class PasswordService {
  private dummy?: Promise<string>;

  hash(password: string): Promise<string> {
    return argon2.hash(password, OPTIONS);
  }

  async verify(hash: string, password: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, password);
    } catch {
      return false;
    }
  }

  /** Spends the same work as a real check, so an unknown email cannot be told apart by timing. */
  async burn(password: string): Promise<false> {
    this.dummy ??= this.hash('vicer-timing-equalizer');
    await this.verify(await this.dummy, password);
    return false;
  }
}
