/// <reference lib="dom" />
/** Talks to /api/v1 with the bearer token kept in sessionStorage (gone when the tab closes). */

const TOKEN_KEY = 'qs.token';
export const API = '/api/v1';

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}
export function clearToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An API answer that is not 2xx. `status` 0: the server could not be reached. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Every problem the server named (validation errors), when it named more than one. */
    readonly issues: ReadonlyArray<{ field: string; message: string }> = [],
  ) {
    super(message);
  }
  /** The route does not exist on this server (yet): show "not available", not an error. */
  get notAvailable(): boolean {
    return this.status === 404 && this.code === 'route_missing';
  }
}

let onUnauthorized: () => void = () => undefined;
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

async function failureOf(res: Response): Promise<ApiFailure> {
  const text = await res.text().catch(() => '');
  let body: { error?: string; message?: string; issues?: Array<{ field: string; message: string }> } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    /* not JSON */
  }
  // The API answers an unknown route with "no route GET /x" (fastify's own default: "Route GET:/x not found").
  const missing = res.status === 404 && (!body.error || /^no route \w+ /.test(body.message ?? '') || /^Route \w+:/.test(body.message ?? ''));
  return new ApiFailure(res.status, missing ? 'route_missing' : (body.error ?? String(res.status)), body.message ?? (text.slice(0, 200) || res.statusText), Array.isArray(body.issues) ? body.issues : []);
}

export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(API + path, { ...init, headers: authHeaders((init.headers as Record<string, string>) ?? {}) });
  } catch (err) {
    throw new ApiFailure(0, 'network', (err as Error).message);
  }
  if (res.status === 401) onUnauthorized();
  if (!res.ok) throw await failureOf(res);
  return res;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, signal ? { signal } : {});
  return (await res.json()) as T;
}

export async function sendJson<T>(method: 'POST' | 'PUT' | 'DELETE', path: string, body: unknown): Promise<T> {
  const res = await request(path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Checks a token without storing it; resolves the session or throws an ApiFailure. */
export async function probeToken(token: string): Promise<Session> {
  let res: Response;
  try {
    res = await fetch(`${API}/session`, { headers: { authorization: `Bearer ${token}` } });
  } catch (err) {
    throw new ApiFailure(0, 'network', (err as Error).message);
  }
  if (res.ok) return (await res.json()) as Session;
  const failure = await failureOf(res);
  if (!failure.notAvailable) throw failure;
  // Older servers without /session: any authenticated read proves the token; role unknown.
  const fallback = await fetch(`${API}/devices`, { headers: { authorization: `Bearer ${token}` } });
  if (!fallback.ok) throw await failureOf(fallback);
  return { tenant: '', role: 'unknown' };
}

export interface Session {
  tenant: string;
  role: 'read' | 'admin' | 'unknown';
}

/** Fetches a file with the token and hands it to the browser as a download. */
export async function download(path: string, filename: string): Promise<void> {
  const res = await request(path);
  saveBlob(await res.blob(), filename);
}

/** Hands data the page holds to the browser as a download. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Fetches a document with the token and opens it in a new tab (blob URL). */
export async function openDocument(path: string): Promise<void> {
  const win = window.open('', '_blank');
  const res = await request(path);
  const url = URL.createObjectURL(await res.blob());
  if (win) win.location.href = url;
  else window.location.href = url;
  setTimeout(() => URL.revokeObjectURL(url), 300_000);
}
