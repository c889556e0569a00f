import { z } from 'zod';

export const ApiFieldErrorSchema = z.strictObject({ field: z.string(), message: z.string() }).meta({ id: 'FieldError' });
export type ApiFieldError = z.infer<typeof ApiFieldErrorSchema>;

/** The body of every HTTP error the API answers. */
export const ApiErrorBodySchema = z
  .strictObject({
    statusCode: z.number().int(),
    error: z.string().meta({ description: 'The HTTP status text' }),
    message: z.string().meta({ description: 'What went wrong; for a 400, every bad field as "field: problem"' }),
    details: z.array(ApiFieldErrorSchema).optional().meta({ description: 'For a 400: each bad field and its problem' }),
  })
  .meta({ id: 'Error' });
export type ApiErrorBody = z.infer<typeof ApiErrorBodySchema>;
