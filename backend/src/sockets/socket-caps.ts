import { Inject, Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { SocketPrincipal } from '../auth/decorators.js';
import { CONFIG } from '../config/config.module.js';
import { clientAddress, proxyTrust, type AppConfig } from '../config/config.js';

/** Why a handshake was refused by a cap, and what the client is told. */
export interface CapRefusal {
  limit: 'user' | 'address';
  message: string;
}

/**
 * Relay sockets per account and per client address, on this instance (each socket costs a log row and memory, so one
 * account or one address must not open thousands). Counted on admission and released on close; the client address is
 * resolved as TRUST_PROXY says, like the connection log's.
 */
@Injectable()
export class SocketCaps {
  private readonly perUser = new Map<string, number>();
  private readonly perAddress = new Map<string, number>();
  private readonly trust: ((addr: string, hop: number) => boolean) | null;

  constructor(@Inject(CONFIG) private readonly config: AppConfig) {
    this.trust = proxyTrust(config.trustProxy);
  }

  address(req: IncomingMessage): string {
    return clientAddress(req, this.trust) ?? '-';
  }

  /** Takes a place for a new socket, or says which cap it would pass. Vehicles count per address only. */
  admit(principal: SocketPrincipal, address: string): CapRefusal | { release(): void } {
    const { perUser, perAddress } = this.config.socketCaps;
    const user = principal.kind === 'user' ? principal.userId : null;
    if (user && (this.perUser.get(user) ?? 0) >= perUser) {
      return { limit: 'user', message: `this account has ${perUser} live connections to this server already; close some tabs or devices` };
    }
    if ((this.perAddress.get(address) ?? 0) >= perAddress) {
      return { limit: 'address', message: `your address has ${perAddress} live connections to this server already` };
    }
    if (user) this.perUser.set(user, (this.perUser.get(user) ?? 0) + 1);
    this.perAddress.set(address, (this.perAddress.get(address) ?? 0) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        if (user) decrement(this.perUser, user);
        decrement(this.perAddress, address);
      },
    };
  }
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 1) - 1;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}
