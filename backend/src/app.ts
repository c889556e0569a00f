import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import 'reflect-metadata';
import { AppModule } from './app.module.js';
import type { AppConfig } from './config/config.js';
import { VERSION, WEB_ROOT } from './config/paths.js';
import { ApiExceptionFilter } from './http/api-exception.filter.js';
import { createLogger, NestPinoLogger } from './logging/logger.js';
import { UsersService } from './users/users.service.js';

export interface AppOptions {
  /** Where the one-time admin password is printed (the console by default). */
  announce?: (text: string) => void;
}

/** Builds the whole server (API, sockets, web app) without listening; main.ts and the tests both use it. */
export async function createApp(config: AppConfig, options: AppOptions = {}): Promise<NestFastifyApplication> {
  const logger = createLogger(config.logLevel);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    trustProxy: config.trustProxy as boolean,
    bodyLimit: 1024 * 1024,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: new NestPinoLogger(logger),
    bufferLogs: false,
  });
  app.setGlobalPrefix('api');
  app.enableShutdownHooks();
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onSend', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
  });

  await app.register(fastifyCookie as never);
  await app.register(fastifyHelmet as never, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'", 'https:'],
        fontSrc: ["'self'", 'data:', 'https:'],
        imgSrc: ["'self'", 'data:', 'blob:'],
        mediaSrc: ["'self'", 'blob:'],
        connectSrc: ["'self'", 'ws:', 'wss:'],
        upgradeInsecureRequests: null,
      },
    },
    crossOriginEmbedderPolicy: false,
  } as never);
  if (config.corsOrigins.length) {
    app.enableCors({ origin: config.corsOrigins.includes('*') ? true : config.corsOrigins, credentials: true });
  }

  const hasWeb = existsSync(join(WEB_ROOT, 'index.html'));
  if (hasWeb) app.useStaticAssets({ root: WEB_ROOT, prefix: '/', wildcard: false, index: ['index.html'] });
  app.useGlobalFilters(new ApiExceptionFilter(hasWeb ? spaFallback : undefined));

  const doc = new DocumentBuilder()
    .setTitle('vicer API')
    .setDescription('Accounts, vehicles, connections and calls. Sign in with POST /api/auth/login, then send the access token as a bearer.')
    .setVersion(VERSION)
    .addBearerAuth()
    .build();
  SwaggerModule.setup('api/docs', app, () => SwaggerModule.createDocument(app, doc), { jsonDocumentUrl: 'api/docs-json' });

  await app.init();
  await app.get(UsersService).ensureInitialAdmin(config.adminEmail, config.adminPassword, options.announce ?? ((t) => process.stdout.write(t + '\n')));
  return app;
}

/** Client-side routes of the web app resolve to index.html; the API and socket paths keep their 404s. */
function spaFallback(req: FastifyRequest, reply: FastifyReply): boolean {
  const path = req.url.split('?')[0];
  if (req.method !== 'GET' || path.startsWith('/api') || path.startsWith('/socket.io')) return false;
  if (!(req.headers.accept ?? '').includes('text/html')) return false;
  reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-cache');
  (reply as unknown as { sendFile(f: string): void }).sendFile('index.html');
  return true;
}
