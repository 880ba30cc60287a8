/* test_lr_schedule.c - the trainer's learning-rate schedules (topt_lr): linear warmup, cosine,
 * exponential halving, and the final cosine anneal (optim.anneal_start) added to the shipped
 * model's exponential schedule. Expected values come from the schedules' definitions written out
 * here (lr x 0.5^k, midpoints, endpoints), and from the properties a resumed run relies on: the
 * anneal changes nothing before anneal_start and joins the schedule without a jump. */
#include <math.h>
#include <string.h>

#include "../model/train/config.h"
#include "../model/train/optim.h"
#include "test_util.h"

static int close_rel(double a, double b, double tol)
{
    return fabs(a - b) <= tol * fmax(fabs(a), fabs(b));
}

int main(void)
{
    tcfg c;
    memset(&c, 0, sizeof c);
    c.lr = 1.5e-3;
    c.min_lr = 5e-5;
    c.warmup = 500;
    c.decay_rate = 0.5;
    c.decay_updates = 15000;

    /* warmup: linear from lr/warmup, reaching lr at update `warmup` */
    c.schedule = TCFG_SCHED_EXPONENTIAL;
    CHECK(close_rel(topt_lr(&c, 1, 0), c.lr / 500, 1e-12), "first warmup step %g", topt_lr(&c, 1, 0));
    CHECK(close_rel(topt_lr(&c, 250, 0), c.lr / 2, 1e-12), "half warmup %g", topt_lr(&c, 250, 0));
    CHECK(close_rel(topt_lr(&c, 500, 0), c.lr, 1e-12), "end of warmup %g", topt_lr(&c, 500, 0));
    CHECK(topt_lr(&c, 0, 0) == topt_lr(&c, 1, 0), "update 0 is treated as 1");

    /* exponential: halves every decay_updates after warmup, floored at min_lr */
    for (int k = 0; k <= 4; k++) {
        double want = c.lr * pow(0.5, k);
        CHECK(close_rel(topt_lr(&c, 500 + 15000L * k, 0), want, 1e-12), "exponential x0.5^%d: %g vs %g", k,
              topt_lr(&c, 500 + 15000L * k, 0), want);
    }
    CHECK(topt_lr(&c, 10000000, 0) == c.min_lr, "exponential floor %g", topt_lr(&c, 10000000, 0));

    /* cosine: lr after warmup, the mean of lr and min_lr halfway, min_lr at total and after */
    c.schedule = TCFG_SCHED_COSINE;
    c.decay_updates = 0;
    CHECK(close_rel(topt_lr(&c, 500 + 5000, 10500), (c.lr + c.min_lr) / 2, 1e-12), "cosine midpoint");
    CHECK(close_rel(topt_lr(&c, 10500, 10500), c.min_lr, 1e-12), "cosine end");
    CHECK(close_rel(topt_lr(&c, 20000, 10500), c.min_lr, 1e-12), "cosine after the end");

    /* the final anneal on the exponential schedule */
    c.schedule = TCFG_SCHED_EXPONENTIAL;
    c.decay_updates = 15000;
    tcfg plain = c;
    c.anneal_start = 25000;
    const long total = 36000;
    int same_before = 1, decreasing = 1;
    for (long u = 1; u <= 25000; u += 7)
        same_before &= topt_lr(&c, u, total) == topt_lr(&plain, u, total);
    same_before &= topt_lr(&c, 25000, total) == topt_lr(&plain, 25000, total);
    CHECK(same_before, "anneal leaves updates <= anneal_start unchanged (a resumed run stays bit-exact)");
    const double from = c.lr * pow(0.5, (25000.0 - 500) / 15000);
    CHECK(close_rel(topt_lr(&c, 25001, total), from, 1e-6), "no jump at the start: %g vs %g",
          topt_lr(&c, 25001, total), from);
    CHECK(close_rel(topt_lr(&c, 30500, total), (from + c.min_lr) / 2, 1e-12), "anneal midpoint %g",
          topt_lr(&c, 30500, total));
    CHECK(close_rel(topt_lr(&c, total, total), c.min_lr, 1e-12), "anneal ends at min_lr");
    CHECK(close_rel(topt_lr(&c, total + 5000, total), c.min_lr, 1e-12), "and stays there");
    for (long u = 25001; u < total; u++)
        decreasing &= topt_lr(&c, u + 1, total) < topt_lr(&c, u, total);
    CHECK(decreasing, "anneal decreases strictly");
    CHECK(topt_lr(&c, 30500, total) < topt_lr(&plain, 30500, total), "anneal is below the plain schedule");

    /* no anneal when the run ends before it would start */
    CHECK(topt_lr(&c, 30000, 20000) == topt_lr(&plain, 30000, 20000), "anneal_start >= total: ignored");
    return TEST_SUMMARY();
}
