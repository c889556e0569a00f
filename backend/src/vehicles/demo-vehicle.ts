import { Logger, type INestApplication } from '@nestjs/common';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../config/paths.js';
import { VehiclesService } from './vehicles.service.js';

export const DEMO_VEHICLE = 'demo-rover';

/**
 * Runs the vehicle agent with its simulated car as `demo-rover`, so a new user sees live video at once.
 * The token is stored only hashed, so each start rotates it and hands the new one to the child (through its
 * environment, not its command line).
 */
export async function startDemoVehicle(app: INestApplication, port: number): Promise<ChildProcess | null> {
  const logger = new Logger('demo');
  const agent = join(ROOT, 'dist/node/apps/vehicle/main.js');
  if (!existsSync(agent)) {
    logger.warn(`demo vehicle not started: ${agent} is missing (npm run build:server)`);
    return null;
  }
  const vehicles = app.get(VehiclesService);
  const existing = await vehicles.findByName(DEMO_VEHICLE);
  const token = existing ? (await vehicles.rotateToken(existing.id)).created.token : (await vehicles.create(DEMO_VEHICLE)).token;
  const child = spawn(process.execPath, [agent, '--server', `http://127.0.0.1:${port}`, '--source', 'sim', '--name', DEMO_VEHICLE], {
    env: { ...process.env, VICER_VEHICLE_TOKEN: token },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (d: Buffer) => logger.debug(d.toString().trim()));
  child.on('exit', (code, signal) => {
    if (signal !== 'SIGTERM') logger.warn(`demo vehicle exited (${code ?? signal})`);
  });
  const stop = () => child.kill('SIGTERM');
  process.once('exit', stop);
  app.getHttpServer().once('close', stop);
  logger.log(`demo vehicle ${DEMO_VEHICLE} is driving a simulated car (VICER_DEMO=0 turns it off)`);
  return child;
}
