/* worker.c - recognition worker threads (see worker.h). A worker sleeps on the hub's condition
 * variable, pops one scheduled session, runs all of its jobs, drops the queue's reference and looks
 * again. Because a session sits on the queue at most once, two workers never run the same session. */
#include "worker.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

struct worker_pool {
    hub *h;
    int n;
    pthread_t *threads;
};

static void *worker_main(void *arg)
{
    hub *h = arg;
    for (;;) {
        pthread_mutex_lock(&h->lock);
        while (h->ready_n == 0 && !h->quit)
            pthread_cond_wait(&h->cond, &h->lock);
        if (h->ready_n == 0) { /* quit and nothing left */
            pthread_mutex_unlock(&h->lock);
            return NULL;
        }
        session *s = h->ready[h->ready_head];
        h->ready_head = (h->ready_head + 1) % h->ready_cap;
        h->ready_n--;
        pthread_mutex_unlock(&h->lock);
        session_run(s);
        session_unref(s);
    }
}

worker_pool *worker_pool_start(hub *h, int n, asr_error *err)
{
    worker_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->threads = calloc((size_t)n, sizeof *p->threads))) {
        asr_error_set(err, ASR_ERR_NOMEM, "workers: out of memory");
        goto fail;
    }
    p->h = h;
    /* Signals go to the main thread only (its poll is what they must interrupt). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (; p->n < n; p->n++) {
        int e = pthread_create(&p->threads[p->n], NULL, worker_main, h);
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
