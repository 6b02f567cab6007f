// The REST client. The token lives in this module's memory only: never in Web Storage or a
// cookie, so closing or reloading the tab signs the operator out.
let session = null;
const signOutListeners = new Set();

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || `HTTP_${status}`;
    this.requestId = error.requestId || null;
    this.details = error.details || {};
  }

  // VALIDATION_ERROR lists {field, description} pairs (docs/architecture.md).
  get fields() {
    return Array.isArray(this.details.fields) ? this.details.fields : [];
  }
}

function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

export function currentSession() {
  return session;
}

export function onSignOut(listener) {
  signOutListeners.add(listener);
}

export function signOut(reason = null) {
  if (!session) return;
  session = null;
  for (const listener of signOutListeners) listener(reason);
}

export async function signIn(email, password) {
  const answer = await request("POST", "/auth/token", { body: { email, password }, anonymous: true });
  const claims = decodeClaims(answer.accessToken);
  session = {
    token: answer.accessToken,
    email: claims.email || email,
    role: claims["custom:role"] || "",
    organizationId: claims["custom:organizationId"] || "",
    expiresAt: Date.now() + (answer.expiresIn || 3600) * 1000,
  };
  return session;
}

export function queryString(query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const error = body && body.error ? body.error : { message: `${response.status} ${response.statusText}` };
  error.requestId = error.requestId || response.headers.get("x-request-id");
  return new ApiError(response.status, error);
}

export async function request(method, path, { query, body, anonymous = false } = {}) {
  const headers = { Accept: "application/json" };
  if (!anonymous) {
    if (!session) throw new ApiError(401, { code: "UNAUTHENTICATED", message: "Sign in first." });
    headers.Authorization = `Bearer ${session.token}`;
  }
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path + queryString(query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (cause) {
    throw new ApiError(0, { code: "NETWORK_ERROR", message: `The gateway did not answer (${cause.message}).` });
  }
  if (!response.ok) {
    const error = await errorFrom(response);
    if (response.status === 401 && !anonymous) signOut(error);
    throw error;
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, query) => request("GET", path, { query });
export const post = (path, body = {}) => request("POST", path, { body });
export const put = (path, body = {}) => request("PUT", path, { body });
export const del = (path) => request("DELETE", path);

// The second step of a firmware upload: an S3-style presigned POST of every field, then the file.
export async function postForm(url, fields, file) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append("file", file);
  let response;
  try {
    response = await fetch(url, { method: "POST", body: form });
  } catch (cause) {
    throw new ApiError(0, { code: "NETWORK_ERROR", message: `The upload target did not answer (${cause.message}).` });
  }
  if (!response.ok) throw await errorFrom(response);
}
