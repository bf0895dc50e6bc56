/**
 * One error shape for every failure ({error, message, field?, issues?, requestId?}), and
 * no stack trace or internal message ever reaches a client.
 */
import type { FastifyError, FastifyInstance } from 'fastify';

export class ApiError extends Error {
  readonly field?: string;
  readonly issues?: Array<{ field: string; message: string }>;
  readonly headers?: Record<string, string>;

  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    extra: { field?: string; issues?: Array<{ field: string; message: string }>; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    if (extra.field !== undefined) this.field = extra.field;
    if (extra.issues !== undefined) this.issues = extra.issues;
    if (extra.headers !== undefined) this.headers = extra.headers;
  }
}

export const notFound = (message: string) => new ApiError(404, 'not_found', message);

const codeByStatus: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
  503: 'unavailable',
};

export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    // 501 is a deliberate answer (e.g. series queries on the influx store), so its message is safe to show.
    if (status === 501) return reply.code(501).send({ error: 'not_implemented', message: err.message });
    if (err instanceof ApiError && status < 500) {
      request.log.info({ status, code: err.code, field: err.field }, err.message);
      if (err.headers) void reply.headers(err.headers);
      return reply.code(status).send({
        error: err.code,
        message: err.message,
        ...(err.field !== undefined ? { field: err.field } : {}),
        ...(err.issues !== undefined ? { issues: err.issues } : {}),
      });
    }
    // fastify's own client errors (bad JSON, body too large, wrong media type) carry safe messages.
    if (status >= 400 && status < 500) {
      request.log.info({ status, code: (err as FastifyError).code }, err.message);
      return reply.code(status).send({ error: codeByStatus[status] ?? 'bad_request', message: err.message });
    }
    request.log.error({ err }, 'request failed');
    return reply.code(status >= 500 && status < 600 ? status : 500).send({
      error: codeByStatus[status] ?? 'internal',
      message: status === 503 ? 'service unavailable' : 'internal server error',
      requestId: request.id,
    });
  });
}
