/* Engine-internal thread pool: n-1 worker threads plus the calling thread.
 *
 * hr_pool_run() publishes fn and runs it on the calling thread (ith 0);
 * workers that are awake join in (each with its own ith < nth). The call
 * returns when every thread that joined has left, and a worker that comes
 * late never touches a finished job. So fn must share its work dynamically
 * (an atomic counter of chunks) and must never wait for other threads: on a
 * busy machine the caller may well do all of it alone, which is better than
 * waiting a scheduler slice for a descheduled worker.
 *
 * Workers spin for at most 20 us of wall time after a job (the next one
 * usually follows within microseconds during a forward pass), then sleep on
 * a futex, so an idle engine burns no CPU. The spin is short on purpose: on
 * a shared, oversubscribed machine a spinning worker is one more runnable
 * thread competing with the caller for a core (measured on the 2-core dev
 * machine at load 4-5: a ~1 ms spin generated 41 tok/s on SmolLM2-135M,
 * a 10 us one 63). HR_POOL_SPIN_US (0..100000) overrides the spin time.
 * One caller at a time per pool. */
#ifndef HR_ENGINE_THREADPOOL_H
#define HR_ENGINE_THREADPOOL_H

typedef struct hr_pool hr_pool;
typedef void (*hr_pool_fn)(void *ud, int ith, int nth);

hr_pool *hr_pool_create(int n_threads); /* n_threads >= 1; capped at 256 */
void hr_pool_free(hr_pool *p);          /* NULL ok; joins the workers */
int hr_pool_size(const hr_pool *p);
void hr_pool_run(hr_pool *p, hr_pool_fn fn, void *ud);

#endif
