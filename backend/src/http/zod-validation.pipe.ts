import { BadRequestException, Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import type { z } from 'zod';
import { fieldErrors, summarize } from '../protocol/index.js';

/** Validates bodies and queries whose declared type is a zodDto; 400 names every bad or unknown field. */
@Injectable()
export class ZodValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    const schema = (metadata.metatype as { schema?: z.ZodType } | undefined)?.schema;
    if (!schema || (metadata.type !== 'body' && metadata.type !== 'query')) return value;
    const result = schema.safeParse(value ?? {});
    if (result.success) return result.data;
    const details = fieldErrors(result.error);
    throw new BadRequestException({ message: summarize(details), details });
  }
}
