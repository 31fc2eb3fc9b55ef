import net from 'node:net';

/** A TCP port nobody listens on right now (the OS picks it), for a server started next. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** `port` when nobody listens on it now, else any free port (the OS picks it). */
export function portOrFree(port: number, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' || error.code === 'EACCES' ? void freePort(host).then(resolve, reject) : reject(error),
    );
    server.listen(port, host, () => server.close(() => resolve(port)));
  });
}
