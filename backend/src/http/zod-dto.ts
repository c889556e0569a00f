import { z } from 'zod';

export interface ZodDto<S extends z.ZodType> {
  new (): z.output<S>;
  readonly schema: S;
}

/**
 * A DTO class around a protocol schema: the validation pipe parses with `schema`, Swagger reads the
 * property list from the same schema, so nothing about a payload's shape is written twice.
 */
export function zodDto<S extends z.ZodType>(schema: S, name: string): ZodDto<S> {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  const dto = class {
    static readonly schema = schema;
    // Read by @nestjs/swagger to describe a class's properties.
    static _OPENAPI_METADATA_FACTORY() {
      const props: Record<string, unknown> = {};
      for (const [key, prop] of Object.entries(json.properties ?? {})) {
        props[key] = { ...prop, required: json.required?.includes(key) ?? false };
      }
      return props;
    }
  };
  Object.defineProperty(dto, 'name', { value: name });
  return dto as unknown as ZodDto<S>;
}
