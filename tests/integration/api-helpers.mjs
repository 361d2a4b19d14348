// api-helpers.mjs -- an HTTP client for the server API tests: any method,
// any headers, a body given as an object (sent as JSON), a string or a
// Buffer, or streamed in chunks without a length.
import http from 'node:http';

export const KEY = 'test-api-key-0123456789abcdef';

/** One request to gw. opts: body (object -> JSON, string or Buffer), key
 *  (default KEY; null sends no Authorization), headers, chunks (an array
 *  of Buffers sent with Transfer-Encoding: chunked), timeoutMs.
 *  Resolves with {status, headers, text, json} (json null when the body is
 *  not JSON). */
export function api(gw, method, path, opts = {}) {
  const { body, key = KEY, headers = {}, chunks, timeoutMs = 15000 } = opts;
  const h = { ...headers };
  if (key !== null && !('Authorization' in h)) h.Authorization = `Bearer ${key}`;
  let data = null;
  if (body !== undefined) {
    data = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    if (!('Content-Type' in h)) h['Content-Type'] = 'application/json';
    if (!('Content-Length' in h)) h['Content-Length'] = data.length;
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: gw.port, method, path, headers: h, agent: false }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (chunks) {
      for (const c of chunks) req.write(c);
      req.end();
    } else {
      req.end(data);
    }
  });
}

/** Asserts an error answer: the status and {"error":{"code","message"}}. */
export function isError(r, status, code) {
  return r.status === status && r.json && r.json.error && r.json.error.code === code &&
    typeof r.json.error.message === 'string' && r.json.error.message.length > 0;
}

export function describe(r) {
  return `${r.status} ${r.text.slice(0, 300)}`;
}
