/* worker.c - recognition worker threads (see worker.h).
 *
 * DESIGN. A worker sleeps on the hub's condition variable while it holds no session and none is
 * ready. It takes scheduled sessions off the ready queue (a fair share: ready / workers, at least
 * one, at most SESSION_BATCH_MAX held) and runs rounds over them (session_run_round): each round
 * runs one job per session and the network steps of all of them as one batch, so many sessions
 * with frames ready cost matrix products instead of matrix-vector products. Between rounds it
 * takes more ready sessions (they join the batch); sessions with no job left leave it and are
 * unscheduled. Because a session sits on the ready queue at most once and stays with the worker
 * that took it until unscheduled, two workers never run the same session; each worker owns its
 * batch workspace (asr_batch).
 */
#include "worker.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct worker_pool {
    hub *h;
    int n;       /* [main] threads started */
    int workers; /* [any] threads wanted, set before any starts (for the fair share) */
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    worker_pool *p = arg;
    hub *h = p->h;
    asr_batch *b = asr_batch_create(h->model); /* NULL (no memory): streams use their own */
    session *held[SESSION_BATCH_MAX];
    int n = 0;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        while (n == 0 && h->ready_n == 0 && !h->quit)
            pthread_cond_wait(&h->cond, &h->lock);
        if (n == 0 && h->ready_n == 0) { /* quit and nothing left */
            pthread_mutex_unlock(&h->lock);
            break;
        }
        size_t share = (h->ready_n + (size_t)p->workers - 1) / (size_t)p->workers;
        if (share == 0 && n == 0)
            share = 1;
        while (share-- > 0 && h->ready_n > 0 && n < SESSION_BATCH_MAX) {
            held[n++] = h->ready[h->ready_head];
            h->ready_head = (h->ready_head + 1) % h->ready_cap;
            h->ready_n--;
        }
        pthread_mutex_unlock(&h->lock);
        n = session_run_round(held, n, b);
    }
    asr_batch_destroy(b);
    return NULL;
}

worker_pool *worker_pool_start(hub *h, int n, asr_error *err)
{
    worker_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->threads = calloc((size_t)n, sizeof *p->threads))) {
        asr_error_set(err, ASR_ERR_NOMEM, "workers: out of memory");
        goto fail;
    }
    p->h = h;
    p->workers = n;
    /* Signals go to the main thread only (its poll is what they must interrupt). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (; p->n < n; p->n++) {
        int e = pthread_create(&p->threads[p->n], NULL, worker_main, p);
        if (e) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            asr_error_set(err, ASR_ERR_NOMEM, "workers: cannot start thread %d: %s", p->n + 1, strerror(e));
            goto fail;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return p;
fail:
    worker_pool_stop(p);
    return NULL;
}

void worker_pool_stop(worker_pool *p)
{
    if (!p)
        return;
    if (p->threads) {
        pthread_mutex_lock(&p->h->lock);
        p->h->quit = 1;
        pthread_cond_broadcast(&p->h->cond);
        pthread_mutex_unlock(&p->h->lock);
        for (int i = 0; i < p->n; i++)
            pthread_join(p->threads[i], NULL);
    }
    free(p->threads);
    free(p);
}
