import { LuaScript } from '../script.js';
import { ACK_HELD } from './ack-held.js';

/**
 * Ack a batch of held messages (most acks ride along with the next fetch instead: see acks.ts).
 * KEYS: unacked, unacked_index. ARGV: tag, score, tag, score, ...
 * Returns the number of messages acked.
 */
export const ackMessages = new LuaScript('ack-messages', `${ACK_HELD}\nreturn ackHeld(1)\n`);
