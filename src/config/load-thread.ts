/**
 * The entry of the load thread (a `worker_threads` Worker with its own heap limit): it runs one load job at a time
 * (load-job.ts) and answers each on its parent port, its entities on the job's own port. A job that throws is
 * answered as unreadable; one that runs the thread out of memory ends the thread, and the main thread answers for it.
 */
import { setPriority } from 'node:os';
import { parentPort, type MessagePort } from 'node:worker_threads';
import { runJob, type LoadJob, type LoadReply } from './load-job.js';

// The lowest scheduling priority for this thread only (on Linux a nice value is a thread's, and pid 0 is the
// calling thread): when a load and the proxied traffic want the same core, the traffic's thread wins at once.
try {
  setPriority(19);
} catch {
  /* not allowed here: the default priority stays */
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
  const transfer: ArrayBuffer[] = [];
  if (reply.status === 'ok') {
    if (reply.text) transfer.push(reply.text.buffer as ArrayBuffer);
    for (const raw of Object.values(reply.fps)) transfer.push(raw.buffer as ArrayBuffer);
  }
  parentPort!.postMessage(reply, transfer);
});
