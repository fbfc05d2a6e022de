/* Monotonic time helpers. */
#ifndef HR_CORE_CLOCK_H
#define HR_CORE_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline uint64_t hr_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline double hr_now_us(void) { return (double)hr_now_ns() / 1000.0; }
/* Unix time in milliseconds (wall clock). */
static inline int64_t hr_unix_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#endif
