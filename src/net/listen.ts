import { KongTsError } from '../errors.js';

// The system's codes said in words, for the errors a listener meets at start (a port taken, a privileged port, an
// address this machine does not have).
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'address not available on this machine',
  EAFNOSUPPORT: 'address family not supported',
};

/** The error of a listener that could not open: `cannot listen on <where>: <reason in words>`. */
export function listenFailed(err: NodeJS.ErrnoException, where: string): KongTsError {
  return new KongTsError('KTS_LISTEN_FAILED', [where], {
    detail: LISTEN_ERRORS[err.code ?? ''] ?? err.message,
    cause: err,
  });
}
