import type { Logger } from 'pino';
import { requestContext } from './logger.js';

/** Exit code of a process that stopped on an error nobody handled: a supervisor (systemd) restarts it. */
export const CRASH_EXIT_CODE = 70;

/**
 * An error that escaped every handler leaves the process in an unknown state: it is logged with the id of the
 * request or socket event it happened in, and the process exits non-zero so that its supervisor restarts it.
 */
export function installCrashHandlers(logger: Logger, exit: (code: number) => void = (c) => process.exit(c)): void {
  const crash = (kind: string) => (err: unknown) => {
    const reqId = requestContext.getStore()?.reqId;
    try {
      logger.fatal({ err, reqId }, `${kind}: vicer stops so that its supervisor restarts it`);
      logger.flush?.();
    } finally {
      exit(CRASH_EXIT_CODE);
    }
  };
  process.on('uncaughtException', crash('uncaught exception'));
  process.on('unhandledRejection', crash('unhandled rejection'));
}
