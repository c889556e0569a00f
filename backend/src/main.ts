import { ConfigError, loadConfig, type AppConfig } from './config/config.js';
import { createApp, listenAndSeed } from './app.js';
import { installCrashHandlers } from './logging/crash.js';
import { createLogger } from './logging/logger.js';
import { startDemoVehicle } from './vehicles/demo-vehicle.js';

async function main(): Promise<void> {
  let config: AppConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  installCrashHandlers(createLogger(config.logLevel));
  const app = await createApp(config);
  let port: number;
  try {
    port = await listenAndSeed(app, config);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' || (err as NodeJS.ErrnoException).code === 'EACCES') {
      process.stderr.write(`vicer cannot listen on ${config.host}:${config.port} (${(err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the port is in use' : 'permission denied'}): stop the other server or set PORT\n`);
      await app.close().catch(() => undefined);
      process.exit(1);
    }
    throw err;
  }
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  if (config.demoVehicle) await startDemoVehicle(app, port);
  process.stdout.write(`vicer is listening on http://${shown}:${port} (API docs: /api/docs)\n`);
}

main().catch((err) => {
  process.stderr.write(`vicer failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
