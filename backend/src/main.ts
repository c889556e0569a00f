import { ConfigError, loadConfig } from './config/config.js';
import { createApp } from './app.js';
import { startDemoVehicle } from './vehicles/demo-vehicle.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const app = await createApp(config);
  await app.listen({ port: config.port, host: config.host });
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  if (config.demoVehicle) await startDemoVehicle(app, (app.getHttpServer().address() as { port: number }).port);
  process.stdout.write(`vicer is listening on http://${shown}:${config.port} (API docs: /api/docs)\n`);
}

main().catch((err) => {
  process.stderr.write(`vicer failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
