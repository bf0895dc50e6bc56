/** A JSON-over-HTTP call for API tests: the parsed body (undefined when not JSON), the text, headers and duration. */
export interface HttpResult {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  headers: Headers;
  /** Content type, '' when absent. */
  type: string;
  ms: number;
}

export async function httpCall(
  url: string,
  opts: { method: string; token?: string | undefined; body?: unknown; headers?: Record<string, string>; timeoutMs: number },
): Promise<HttpResult> {
  const t0 = performance.now();
  const { body } = opts;
  const res = await fetch(url, {
    method: opts.method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...opts.headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(opts.timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text, headers: res.headers, type: res.headers.get('content-type') ?? '', ms: performance.now() - t0 };
}
