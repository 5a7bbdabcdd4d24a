/** The entry of a worker process (the primary forks it with cluster; see supervisor.ts). */
import { runWorker } from './worker.js';

runWorker();
