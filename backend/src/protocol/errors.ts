/** The body of every HTTP error the API answers. */
export interface ApiErrorBody {
  statusCode: number;
  error: string;
  message: string;
  details?: ApiFieldError[] | Record<string, unknown>;
}

export interface ApiFieldError {
  field: string;
  message: string;
}
