/**
 * Thin client for the jdiffuse REST API (docs/api.md). Every failure becomes an {@link ApiError} carrying the
 * server's {"error":{"code","message","field"}} so the form can show it next to the field it names.
 */

import { authHeaders } from './auth.js';

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field ?? null;
    this.retryAfter = retryAfter ?? null;
  }
}

/**
 * Calls the API. `json` is sent as application/json; `body` (a Blob/File) is sent raw with its own type.
 * Resolves to the parsed JSON answer (or null for an empty one).
 */
export async function api(path, { method = 'GET', json, body, signal } = {}) {
  const init = { method, signal, headers: authHeaders({ Accept: 'application/json' }) };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (body !== undefined) {
    init.headers['Content-Type'] = body.type || 'application/octet-stream';
    init.body = body;
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached.', null);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    if (res.status === 401) window.dispatchEvent(new CustomEvent('jdiffuse:unauthorized'));
    const err = data && data.error ? data.error : {};
    throw new ApiError(res.status, err.code || `http_${res.status}`,
      err.message || `${res.status} ${res.statusText}`, err.field, res.headers.get('Retry-After'));
  }
  return data;
}

/** Fetches a result image as a Blob so it stays viewable and downloadable after the server forgets it. */
export async function fetchImage(url) {
  const res = await fetch(url, { headers: authHeaders() });
  if (!res.ok) throw new ApiError(res.status, 'image_unavailable', `image ${url}: ${res.status}`, null);
  return res.blob();
}
