import { createRequire } from 'node:module';
import type * as Parser from 'socket.io-parser';
import { BINARY_FRAME, BINARY_FRAME_ACK } from '../protocol/index.js';

// The CommonJS build, which Socket.IO itself loads: an ESM import resolves to the package's debug build on Node.
const { Decoder, Encoder } = createRequire(import.meta.url)('socket.io-parser') as typeof Parser;

/**
 * Socket.IO's own parser, with one addition: a binary message that arrives outside any packet and carries one of the
 * relay's tags (`BINARY_FRAME_ACK`, `BINARY_FRAME` in the protocol module) goes to `onTagged` — the connection's
 * relay socket sets it — instead of failing the parse. Anything else, binary attachments included, is decoded
 * exactly as before; an untagged stray binary still closes the connection, as Socket.IO does.
 */
export class RelayDecoder extends Decoder {
  /** Called with the tag it matched, so the handler need not test the message again. */
  onTagged?: (tag: number, data: Uint8Array) => void;

  override add(obj: unknown): void {
    const tag = obj instanceof Uint8Array && obj.length ? obj[0] : -1;
    // While a packet's attachments are being gathered, every binary message belongs to it.
    if (this.onTagged && (tag === BINARY_FRAME.tag || tag === BINARY_FRAME_ACK.tag) && !(this as unknown as { reconstructor?: unknown }).reconstructor) return this.onTagged(tag, obj as Uint8Array);
    super.add(obj);
  }
}

/** For the Socket.IO server's `parser` option. */
export const relayParser = { Encoder, Decoder: RelayDecoder };
