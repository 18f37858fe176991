/**
 * The API key of a server started with --api-keys (docs/security.md). The login form stores it in this browser's
 * localStorage; REST calls send it as `Authorization: Bearer KEY`, and the WebSocket, which cannot send headers,
 * as the `access_token` query parameter of its upgrade. A server without keys (loopback) never asks for one.
 */

const STORAGE = 'jdiffuse.apiKey';

export function apiKey() {
  try {
    return localStorage.getItem(STORAGE) || '';
  } catch {
    return '';
  }
}

export function setApiKey(key) {
  if (key) localStorage.setItem(STORAGE, key);
  else localStorage.removeItem(STORAGE);
}

/** Headers carrying the key, if one is stored. */
export function authHeaders(headers = {}) {
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/** The WebSocket URL with the key as `access_token`, if one is stored. */
export function authUrl(url) {
  const key = apiKey();
  return key ? `${url}${url.includes('?') ? '&' : '?'}access_token=${encodeURIComponent(key)}` : url;
}
