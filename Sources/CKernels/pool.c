// See include/ckernels.h ("Worker pool"). Why not Dispatch's concurrentPerform: its worker threads
// sleep between calls and are woken through the kernel, tens of microseconds per op, and a forward
// pass at batch 1 is a hundred ops of a few hundred microseconds each. These threads spin a little
// before sleeping, so back-to-back ops find them awake.
#define _GNU_SOURCE
#include "ckernels.h"
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#define RELAX() _mm_pause()
#else
#define RELAX() ((void)0)
#endif

// About 50 microseconds of pause instructions before a waiting thread goes to sleep.
#define SPINS 4000
#define MAX_THREADS 64

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int in_pool;          // set in pool threads and in a caller while it runs a job
static long threads;                       // pool threads started (the caller is one more worker)

static _Atomic uint32_t generation;        // bumped for each job; futex word
static _Atomic int caller_sleeps;
static _Atomic long sleepers;
static _Atomic long next_chunk;            // the job's next unclaimed chunk
static _Atomic uint32_t pending;           // pool threads yet to finish the job; futex word
static long job_chunks;
static void (*job_fn)(void *, long);
static void *job_ctx;

static void futex_wait(_Atomic uint32_t *word, uint32_t value) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
    (void)word; (void)value; sched_yield();
#endif
}

static void futex_wake_all(_Atomic uint32_t *word) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

static void run_chunks(void) {
    long c;
    while ((c = atomic_fetch_add_explicit(&next_chunk, 1, memory_order_relaxed)) < job_chunks) job_fn(job_ctx, c);
}

// arg: the generation before the job the thread is started for, so that it cannot miss that job.
static void *worker(void *arg) {
    in_pool = 1;
    uint32_t seen = (uint32_t)(uintptr_t)arg;
    for (;;) {
        uint32_t now;
        int spins = 0;
        while ((now = atomic_load_explicit(&generation, memory_order_acquire)) == seen) {
            if (++spins < SPINS) { RELAX(); continue; }
            atomic_fetch_add(&sleepers, 1);
            if (atomic_load(&generation) == seen) futex_wait(&generation, seen);
            atomic_fetch_sub(&sleepers, 1);
            spins = 0;
        }
        seen = now;
        run_chunks();
        if (atomic_fetch_sub(&pending, 1) == 1 && atomic_load(&caller_sleeps)) futex_wake_all(&pending);
    }
    return NULL;
}

static void serial(long chunks, void (*fn)(void *, long), void *ctx) {
    for (long c = 0; c < chunks; c++) fn(ctx, c);
}

void pool_for(long workers, long chunks, void (*fn)(void *, long), void *ctx) {
    // Nested calls (from inside a chunk) and calls while another thread's job runs go serially.
    if (workers <= 1 || chunks <= 1 || in_pool || pthread_mutex_trylock(&run_lock) != 0) return serial(chunks, fn, ctx);
    pthread_mutex_lock(&start_lock);
    while (threads < workers - 1 && threads < MAX_THREADS) {
        pthread_t t;
        void *start = (void *)(uintptr_t)atomic_load(&generation);
        if (pthread_create(&t, NULL, worker, start) != 0) break;
        pthread_detach(t);
        threads++;
    }
    pthread_mutex_unlock(&start_lock);
    if (threads == 0) {
        pthread_mutex_unlock(&run_lock);
        return serial(chunks, fn, ctx);
    }
    job_fn = fn;
    job_ctx = ctx;
    job_chunks = chunks;
    atomic_store_explicit(&next_chunk, 0, memory_order_relaxed);
    atomic_store_explicit(&pending, (uint32_t)threads, memory_order_relaxed);
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&sleepers) > 0) futex_wake_all(&generation);
    in_pool = 1;
    run_chunks();
    in_pool = 0;
    // Wait for the pool threads: spinning, then asleep (a pool thread may hold a long chunk, such as
    // a whole image, and the core is better left to the decoding threads meanwhile).
    int spins = 0;
    uint32_t left;
    while ((left = atomic_load_explicit(&pending, memory_order_acquire)) > 0) {
        if (++spins < SPINS) { RELAX(); continue; }
        atomic_store(&caller_sleeps, 1);
        if ((left = atomic_load(&pending)) > 0) futex_wait(&pending, left);
        atomic_store(&caller_sleeps, 0);
        spins = 0;
    }
    pthread_mutex_unlock(&run_lock);
}
