import type { FastifyReply, FastifyRequest } from 'fastify';

/** The web app is built once per language: English at `/`, Korean under `/ko/` (frontend/src/app/i18n/language.ts). */
export const WEB_LANGUAGES = ['en', 'ko'] as const;
export type WebLanguage = (typeof WEB_LANGUAGES)[number];
export const LANGUAGE_COOKIE = 'vicer_lang';

/** The visitor's language: the one they picked (the cookie), else the first of ours their browser asks for, else English. */
export function chooseLanguage(cookie: string | undefined, acceptLanguage: string | undefined): WebLanguage {
  if (cookie === 'en' || cookie === 'ko') return cookie;
  let best: { lang: WebLanguage; q: number } | null = null;
  // Bounded: a header of hundreds of entries is not read past the first few.
  for (const part of (acceptLanguage ?? '').slice(0, 512).split(',').slice(0, 16)) {
    const [tag, ...params] = part.trim().toLowerCase().split(';');
    const lang = tag.split('-')[0];
    if (lang !== 'en' && lang !== 'ko') continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) continue;
    if (!best || q > best.q) best = { lang, q };
  }
  return best?.lang ?? 'en';
}

const isKoreanPath = (path: string) => path === '/ko' || path.startsWith('/ko/');

/** A browser navigation to a page of the web app (not the API, a socket or a file). */
function isPageNavigation(req: FastifyRequest, path: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (path.startsWith('/api') || path.startsWith('/socket.io') || path === '/metrics') return false;
  if (/\.[a-z0-9]+$/i.test(path)) return false;
  return (req.headers.accept ?? '').includes('text/html');
}

/**
 * Sends a page request to the build in the visitor's language: `/drive` becomes `/ko/drive` for a Korean reader.
 * An explicit `/ko/…` address is served as asked (a shared link keeps its language).
 */
export function redirectToLanguage(req: FastifyRequest, reply: FastifyReply): boolean {
  const [path, query] = splitUrl(req.url);
  if (!isPageNavigation(req, path)) return false;
  if (path === '/ko') return void reply.redirect('/ko/' + query, 302), true;
  if (isKoreanPath(path)) return false;
  const lang = chooseLanguage(req.cookies?.[LANGUAGE_COOKIE], req.headers['accept-language']);
  if (lang !== 'ko') return false;
  reply.header('Vary', 'Accept-Language, Cookie').redirect('/ko' + path + query, 302);
  return true;
}

/** The index.html of the build a client-side route belongs to. */
export function indexFor(path: string): string {
  return isKoreanPath(path) ? 'ko/index.html' : 'index.html';
}

function splitUrl(url: string): [string, string] {
  const i = url.indexOf('?');
  return i < 0 ? [url, ''] : [url.slice(0, i), url.slice(i)];
}
