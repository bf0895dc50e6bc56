/**
 * Bridges zod into fastify: route schemas are zod schemas; requests are parsed with them
 * (query strings arrive as strings and leave as numbers, arrays, defaults) and responses
 * are parsed before serialising, so no field outside the schema ever leaves the server.
 */
import type { FastifyInstance, FastifyTypeProvider } from 'fastify';
import { z } from 'zod';
import { ApiError } from './errors.ts';

/** Lets handlers see `request.query` etc. as the zod output types. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this['schema'] extends z.ZodType ? z.output<this['schema']> : unknown;
  serializer: this['schema'] extends z.ZodType ? z.input<this['schema']> : unknown;
}

export function isZodSchema(value: unknown): value is z.ZodType {
  return value instanceof z.ZodType;
}

const partNames: Record<string, string> = { querystring: 'query', params: 'path', body: 'body', headers: 'header' };

export interface FieldIssue {
  field: string;
  message: string;
}

/** One entry per issue; unknown keys are named as the field so `?tenant=x` says "tenant". */
export function fieldIssues(error: z.ZodError, part: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  for (const issue of error.issues.slice(0, 10)) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) issues.push({ field: key, message: `unknown ${part} parameter "${key}"` });
    } else {
      issues.push({ field: issue.path.length ? issue.path.join('.') : part, message: issue.message });
    }
  }
  return issues;
}

export function validationError(httpPart: string, error: z.ZodError): ApiError {
  const part = partNames[httpPart] ?? httpPart;
  const issues = fieldIssues(error, part);
  const first = issues[0] ?? { field: part, message: 'invalid' };
  return new ApiError(400, 'bad_request', `${part} ${first.field}: ${first.message}`, { field: first.field, issues });
}

/** A response that does not match its schema: a server bug, not a client error (the error handler logs it and answers 500). */
export function responseMismatch(route: string, error: z.ZodError, at?: string): Error {
  return new Error(`${route} response does not match its schema${at ? ` at ${at}` : ''}: ${z.prettifyError(error)}`);
}

export function installZodCompilers(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, method, url, httpPart }) => {
    if (!isZodSchema(schema)) throw new Error(`${method} ${url}: the ${httpPart ?? 'request'} schema must be a zod schema`);
    return (data: unknown) => {
      const result = schema.safeParse(data ?? undefined);
      return result.success ? { value: result.data } : { error: validationError(httpPart ?? 'request', result.error) };
    };
  });

  app.setSerializerCompiler(({ schema, method, url, httpStatus }) => {
    if (!isZodSchema(schema)) throw new Error(`${method} ${url}: the ${httpStatus} response schema must be a zod schema`);
    return (data: unknown) => {
      const result = schema.safeParse(data);
      if (!result.success) throw responseMismatch(`${method} ${url} ${httpStatus}`, result.error);
      return JSON.stringify(result.data);
    };
  });
}
