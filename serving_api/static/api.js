// Calls to the QBank REST API with the session's bearer token; failures carry the status and body.
export const session = { token: null, onUnauthorized: () => {} };

// Field-level problems of a 422: this API's `errors` [{field, message}], or FastAPI's default
// `detail` list [{loc, msg}] should a route ever answer with it.
function fieldErrors(data) {
  if (Array.isArray(data.errors)) return data.errors;
  if (Array.isArray(data.detail)) {
    return data.detail.map((d) => ({ field: (d.loc || []).filter((p) => p !== "body").join("."), message: String(d.msg ?? "invalid") }));
  }
  return null;
}

export class ApiFailure extends Error {
  constructor(status, data) {
    const list = fieldErrors(data);
    super(typeof data.detail === "string" ? data.detail
      : list ? list.map((e) => `${e.field || "request"}: ${e.message}`).join("; ") : `request failed (${status})`);
    this.status = status; this.data = data; this.fields = list;
  }
}

export async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && session.token) session.onUnauthorized();
  if (!res.ok) throw new ApiFailure(res.status, data);
  return data;
}
