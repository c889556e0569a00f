import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import { BadRequestException, ForbiddenException, RequestMethod } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import 'reflect-metadata';
import secureJsonParse from 'secure-json-parse';
import { AppModule } from './app.module.js';
import { configWarnings, proxyTrust, type AppConfig } from './config/config.js';
import { VERSION, WEB_ROOT } from './config/paths.js';
import { answerClientError, ApiExceptionFilter, toErrorBody } from './http/api-exception.filter.js';
import { completeDocument } from './http/contract.js';
import { indexFor, redirectToLanguage } from './http/web-language.js';
import { createLogger, NestPinoLogger, requestContext } from './logging/logger.js';
import { MetricsService } from './metrics/metrics.service.js';
import { jsonTextDepth } from './protocol/index.js';
import { UsersService } from './users/users.service.js';

export interface AppOptions {
  /** Where the one-time admin password is printed (the console by default). */
  announce?: (text: string) => void;
}

/** Largest HTTP body, and the deepest JSON nesting of one. */
export const BODY_LIMIT_BYTES = 1024 * 1024;
export const BODY_MAX_DEPTH = 32;

/** Builds the whole server (API, sockets, web app) without listening; main.ts and the tests both use it. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const logger = createLogger(config.logLevel);
  for (const warning of configWarnings(config)) logger.warn(warning);
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    // A function, so that a hop count means that many proxies (Fastify alone would read a number as "trust none").
    trustProxy: proxyTrust(config.trustProxy) ?? false,
    bodyLimit: BODY_LIMIT_BYTES,
    // A path parameter of any length reaches its schema (a 400 naming it); the request line itself is bounded by
    // Node's 16 KiB header limit.
    routerOptions: { maxParamLength: 16 * 1024 },
    clientErrorHandler: answerClientError,
    // Errors Fastify meets before routing (a malformed percent-encoding) answer in the one error shape too.
    frameworkErrors: (err: Error & { statusCode?: number; code?: string }, _req: FastifyRequest, reply: FastifyReply) => {
      const body = toErrorBody(err);
      void reply.status(body.statusCode).type('application/json; charset=utf-8').send(body);
    },
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    logger: new NestPinoLogger(logger),
    bufferLogs: false,
    // Bodies are parsed below: JSON only.
    bodyParser: false,
  });
  app.setGlobalPrefix('api', { exclude: [{ path: 'metrics', method: RequestMethod.GET }] });
  app.enableShutdownHooks();
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;
  acceptJsonOnly(fastify);
  // Everything logged while handling a request carries its id, an unexpected crash included.
  fastify.addHook('onRequest', (req, _reply, done) => requestContext.run({ reqId: String(req.id) }, done));
  fastify.addHook('onRequest', async (req) => refuseCrossSite(req, config.corsOrigins));
  fastify.addHook('onSend', async (req, reply) => {
    reply.header('X-Request-Id', req.id);
  });
  const metrics = app.get(MetricsService);
  fastify.addHook('onResponse', (req, reply, done) => {
    // The route's template (bounded); static files and unknown paths share one label.
    const route = req.routeOptions.url && req.routeOptions.url !== '*' && !req.routeOptions.url.startsWith('/*') ? req.routeOptions.url : 'other';
    metrics.httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
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
        // 'self' covers the app's own ws:/wss: socket (CSP 3); no other host.
        connectSrc: ["'self'"],
        upgradeInsecureRequests: null,
      },
    },
    crossOriginEmbedderPolicy: false,
  } as never);
  if (config.corsOrigins.length) {
    app.enableCors({ origin: config.corsOrigins.includes('*') ? true : config.corsOrigins, credentials: true });
  }

  const hasWeb = existsSync(join(WEB_ROOT, 'index.html'));
  if (hasWeb) {
    // Before the static files: `/` itself must go to the visitor's language.
    fastify.addHook('onRequest', (req, reply, done) => {
      if (!redirectToLanguage(req, reply)) done();
    });
    app.useStaticAssets({ root: WEB_ROOT, prefix: '/', wildcard: false, index: ['index.html'] });
  }
  app.useGlobalFilters(new ApiExceptionFilter(hasWeb ? spaFallback : undefined));

  const doc = new DocumentBuilder()
    .setTitle('vicer API')
    .setDescription(
      'Accounts, vehicles, connections and calls. Sign in with POST /api/auth/login, then send the access token as a bearer. Every error answers the Error schema; bodies are JSON only.',
    )
    .setVersion(VERSION)
    .addBearerAuth()
    .build();
  SwaggerModule.setup('api/docs', app, () => completeDocument(SwaggerModule.createDocument(app, doc) as never) as never, { jsonDocumentUrl: 'api/docs-json' });

  await app.init();
  return app;
}

/**
 * Listens, then creates the first admin when there is none (printing its generated password once) — in that order,
 * so a port that is taken fails before a one-time password is printed.
 */
export async function listenAndSeed(app: NestFastifyApplication, config: AppConfig, options: AppOptions = {}): Promise<number> {
  await app.listen({ port: config.port, host: config.host });
  await app.get(UsersService).ensureInitialAdmin(config.adminEmail, config.adminPassword, options.announce ?? ((t) => process.stdout.write(t + '\n')));
  return (app.getHttpServer().address() as { port: number }).port;
}

/**
 * The API reads JSON bodies and nothing else: a form post (which browsers send cross-site without asking) gets 415.
 * A JSON body's nesting is bounded before it is parsed; an empty body reads as no body.
 */
function acceptJsonOnly(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES }, (_req, text, done) => {
    const body = text as string;
    if (body.trim() === '') return done(null, undefined);
    if (jsonTextDepth(body, BODY_MAX_DEPTH) > BODY_MAX_DEPTH) {
      return done(new BadRequestException({ message: `(body): nests deeper than ${BODY_MAX_DEPTH} levels`, details: [{ field: '(body)', message: `nests deeper than ${BODY_MAX_DEPTH} levels` }] }), undefined);
    }
    try {
      done(null, secureJsonParse.parse(body, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const why = err instanceof SyntaxError ? 'is not valid JSON' : 'holds a forbidden __proto__ or constructor key';
      done(new BadRequestException({ message: `(body): ${why}`, details: [{ field: '(body)', message: why }] }), undefined);
    }
  });
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * A browser request from another site must not change anything here — a signed-in user's cookie would ride along.
 * Browsers say where a request comes from (Sec-Fetch-Site, Origin); requests from programs send neither.
 */
function refuseCrossSite(req: FastifyRequest, allowed: string[]): void {
  // Every unsafe request, whatever its path: a path written with percent-encoding (`/%61pi/…`) routes like `/api/…`,
  // and nothing outside the API takes unsafe methods (the relay's sockets do not pass through here).
  if (!UNSAFE.has(req.method)) return;
  const site = req.headers['sec-fetch-site'];
  if (site === 'same-origin' || site === 'none') return;
  const origin = req.headers.origin;
  if (origin && (allowed.includes('*') || allowed.includes(origin))) return;
  const crossSite = site === 'cross-site' || site === 'same-site' || (origin !== undefined && origin !== `${req.protocol}://${req.host}`);
  if (crossSite) throw new ForbiddenException({ message: `Cross-site requests are refused; add the origin to CORS_ORIGINS to allow ${origin ?? 'it'}`, code: 'cross-site' });
}

/** Client-side routes of the web app resolve to index.html; the API and socket paths keep their 404s. */
function spaFallback(req: FastifyRequest, reply: FastifyReply): boolean {
  const path = req.url.split('?')[0];
  if (req.method !== 'GET' || path.startsWith('/api') || path.startsWith('/socket.io')) return false;
  if (!(req.headers.accept ?? '').includes('text/html')) return false;
  reply.type('text/html; charset=utf-8').header('Cache-Control', 'no-cache');
  (reply as unknown as { sendFile(f: string): void }).sendFile(indexFor(path));
  return true;
}
