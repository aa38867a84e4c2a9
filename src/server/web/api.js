// api.js — the web interface's one way to the JSON API (/api/v1/): JSON bodies, the session's
// CSRF token on every state change (read from the page's csrf-token meta element at each call, so
// the page holds it in one place), and the API's errors turned into ApiError with status and
// message. A 401 outside the login means the session ended: the caller is sent back to the login.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// Whether this tab logged in (so that a 401 later means "your session ended", not "log in").
export function markLoggedIn(yes) {
  if (yes) sessionStorage.setItem('logged-in', '1');
  else sessionStorage.removeItem('logged-in');
}

export function setCsrfToken(token) {
  document.querySelector('meta[name="csrf-token"]').setAttribute('content', token || '');
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').getAttribute('content');
}

export async function api(method, path, body, { loginCall = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken();
  let resp;
  try {
    resp = await fetch('/api/v1' + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, 'network', 'The lab server cannot be reached; check the connection and try again.');
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (resp.ok) return data;
  const err = (data && data.error) || {};
  if (resp.status === 401 && !loginCall) {
    // A session this tab had has ended (idle, expired, reset, disabled); otherwise it never had one.
    const had = sessionStorage.getItem('logged-in') === '1';
    sessionStorage.removeItem('logged-in');
    window.location.assign(had ? '/login?expired=1' : '/login');
    throw new ApiError(401, 'unauthenticated', 'Your session has ended; please log in again.');
  }
  const retry = parseInt(resp.headers.get('Retry-After') || '0', 10);
  throw new ApiError(resp.status, err.code || 'error', err.message || `HTTP ${resp.status}`, retry);
}
