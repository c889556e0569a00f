import { Body, Controller, Delete, Get, Headers, HttpStatus, Param, Put, Query, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { createReadStream } from 'node:fs';
import type { z } from 'zod';
import { RequirePermission } from '../auth/decorators.js';
import { HttpErrorWithHeaders } from '../http/api-exception.filter.js';
import { Contract } from '../http/contract.js';
import { IdParamsSchema, RecordingSettingSchema, RecordingsPageSchema, RecordingsQuerySchema, RecordingViewSchema, type Page, type RecordingsQuery, type RecordingView } from '../protocol/index.js';
import { RecordingsService } from './recordings.service.js';

@ApiTags('recordings')
@RequirePermission('recordings:manage')
@Controller()
export class RecordingsController {
  constructor(private readonly recordings: RecordingsService) {}

  @Get('recordings')
  @Contract({ summary: 'Drive recordings, newest first, with filters and paging', query: RecordingsQuerySchema, response: RecordingsPageSchema })
  list(@Query() q: RecordingsQuery): Promise<Page<RecordingView>> {
    return this.recordings.list(q);
  }

  @Get('recordings/:id')
  @Contract({ summary: 'One recording', params: IdParamsSchema, response: RecordingViewSchema, notFound: true })
  get(@Param() { id }: { id: string }): Promise<RecordingView> {
    return this.recordings.get(id);
  }

  @Get('recordings/:id/file')
  @Contract({
    summary: 'The MCAP file, streamed; `Range: bytes=…` answers 206 with that part (a player reads the index first)',
    params: IdParamsSchema,
    response: 'mcap',
    notFound: true,
    responseHeaders: { 'Accept-Ranges': 'bytes', 'Content-Disposition': 'attachment; filename="<vehicle>-<start>.mcap"' },
  })
  async file(@Param() { id }: { id: string }, @Headers('range') range: string | undefined, @Res() reply: FastifyReply): Promise<void> {
    const f = await this.recordings.file(id);
    reply
      .header('Accept-Ranges', 'bytes')
      .header('Content-Type', 'application/x-mcap')
      .header('Content-Disposition', `attachment; filename="${f.name}"`)
      .header('Cache-Control', f.inProgress ? 'no-store' : 'private, max-age=3600');
    const r = range ? parseRange(range, f.size) : null;
    if (range && !r) throw new HttpErrorWithHeaders(HttpStatus.REQUESTED_RANGE_NOT_SATISFIABLE, `Range ${range.slice(0, 60)} is not one range within the file’s ${f.size} bytes`, { 'Content-Range': `bytes */${f.size}` });
    if (r) {
      reply.status(HttpStatus.PARTIAL_CONTENT).header('Content-Range', `bytes ${r.start}-${r.end}/${f.size}`).header('Content-Length', r.end - r.start + 1);
      reply.send(createReadStream(f.path, { start: r.start, end: r.end }));
      return;
    }
    reply.status(HttpStatus.OK).header('Content-Length', f.size).send(createReadStream(f.path, { end: Math.max(0, f.size - 1) }));
  }

  @Delete('recordings/:id')
  @Contract({ summary: 'Delete a recording and its file (one in progress ends first)', params: IdParamsSchema, response: null, status: 204, notFound: true })
  remove(@Param() { id }: { id: string }): Promise<void> {
    return this.recordings.remove(id);
  }

  @Put('vehicles/:id/recording')
  @Contract({
    summary: 'Record this vehicle’s drives, or stop (RECORD_DRIVES=1 records every vehicle anyway)',
    params: IdParamsSchema,
    body: RecordingSettingSchema,
    response: RecordingSettingSchema,
    notFound: true,
  })
  async setRecording(@Param() { id }: { id: string }, @Body() body: z.output<typeof RecordingSettingSchema>): Promise<{ enabled: boolean }> {
    await this.recordings.setEnabled(id, body.enabled);
    return { enabled: this.recordings.isEnabled(id) };
  }
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range within the file; anything else (several ranges, junk) is null. */
export function parseRange(header: string, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '') || size === 0) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : null;
}
