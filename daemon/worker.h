/* worker.h - the recognition worker threads: each takes scheduled sessions from the hub's ready
 * queue and runs their queued jobs in batched rounds (session_run_round), so recognition never
 * runs on the network thread.
 *
 * Thread safety: worker_pool_start/stop belong to the daemon's main thread.
 */
#ifndef ASRD_WORKER_H
#define ASRD_WORKER_H

#include "session.h"

typedef struct worker_pool worker_pool;

/* Starts n threads serving hub h. NULL with *err if a thread cannot start (none are left running). */
worker_pool *worker_pool_start(hub *h, int n, asr_error *err);

/* Lets the workers finish the sessions already scheduled, then joins them; NULL-safe. */
void worker_pool_stop(worker_pool *p);

#endif
