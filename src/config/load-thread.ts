/**
 * The entry of the load thread (a `worker_threads` Worker with its own heap limit): it runs one load job at a time
 * (load-job.ts) and answers each on its parent port, its entities on the job's own port. A job that throws is
 * answered as unreadable; one that runs the thread out of memory ends the thread, and the main thread answers for it.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { runJob, type LoadJob, type LoadReply } from './load-job.js';

// The thread runs at the lowest CPU priority (Linux: nice is per thread): on a machine with few cores, the data
// path on the main thread gets the CPU first while a large file is parsed and checked here.
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, 19);
} catch {
  // not Linux, or not allowed: the thread runs at the process's priority
}

parentPort!.on('message', (m: { job: LoadJob; port: MessagePort }) => {
  let reply: LoadReply;
  try {
    reply = runJob(m.job, m.port);
  } catch (err) {
    reply = {
      id: m.job.id,
      status: 'unreadable',
      message: `the config load failed: ${(err as Error)?.message ?? String(err)}`,
    };
  }
  m.port.close();
  parentPort!.postMessage(reply, reply.status === 'ok' && reply.text ? [reply.text.buffer as ArrayBuffer] : []);
});
