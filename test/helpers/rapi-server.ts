/**
 * A local HTTPS server that answers like Ganeti's RAPI, for the client's unit tests: loopback only
 * (127.0.0.1, a free port) or a Unix socket, with one of the test certificates in
 * test/fixtures/ganeti-rapi/tls (`a` or `b`, both `CN=ganeti.example.com`, self-signed as Ganeti's).
 * Answers come from a handler; what the client sent is recorded (headers included, so a test can
 * check what was and was not sent). The real RAPI is tested in test/integration/ganeti-*.test.ts.
 *
 *   const srv = await startRapiServer({ cert: 'a', handler: (req) => ({ status: 200, body: {…} }) });
 *   … srv.url, srv.requests …
 *   await srv.close();
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TLS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'ganeti-rapi', 'tls');
export const FIXTURES_DIR = path.join(TLS_DIR, '..');

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type RapiReply =
  | { status: number; body?: unknown; raw?: string; delayMs?: number }
  /** Close the connection without an answer (after `delayMs`). */
  | { hangUp: true; delayMs?: number }
  /** Never answer. */
  | { never: true }
  /** Start a 200 answer, send `text` of it, then close the connection. */
  | { cut: string; delayMs?: number };

export interface FakeRapi {
  /** `https://127.0.0.1:PORT` (or `https://127.0.0.1:5080` with a Unix socket). */
  url: string;
  socketPath: string | undefined;
  requests: RecordedRequest[];
  /** TCP (or Unix) connections accepted, completed TLS or not: a client that refuses the certificate connects but sends no request. */
  connections: number;
  close(): Promise<void>;
}

export interface FakeRapiOptions {
  cert: 'a' | 'b';
  handler: (req: RecordedRequest) => RapiReply | Promise<RapiReply>;
  /** Listen on this Unix socket instead of a loopback port. */
  socketPath?: string;
}

/** A fixture recorded from the real cluster (test/fixtures/ganeti-rapi/NAME.json). */
export function rapiFixture<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES_DIR, `${name}.json`), 'utf8')) as T;
}

export async function startRapiServer(options: FakeRapiOptions): Promise<FakeRapi> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  const server: Server = createServer(
    { key: readFileSync(path.join(TLS_DIR, `${options.cert}.key`)), cert: readFileSync(path.join(TLS_DIR, `${options.cert}.crt`)) },
    (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: text === '' ? undefined : JSON.parse(text) };
        requests.push(rec);
        void Promise.resolve(options.handler(rec)).then((reply) => {
          if ('never' in reply) return;
          const go = () => {
            if ('hangUp' in reply) {
              req.socket.destroy();
              return;
            }
            if ('cut' in reply) {
              res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply.cut) * 2 });
              res.write(reply.cut, () => req.socket.destroy());
              return;
            }
            const payload = reply.raw ?? JSON.stringify(reply.body ?? null);
            res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
            res.end(payload);
          };
          if (reply.delayMs) {
            const t = setTimeout(() => {
              timers.delete(t);
              go();
            }, reply.delayMs);
            timers.add(t);
          } else go();
        });
      });
    },
  );
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (options.socketPath) server.listen(options.socketPath, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 5080;
  return {
    url: `https://127.0.0.1:${port}`,
    socketPath: options.socketPath,
    requests,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
