/* Logging: one line per event on stderr, with a level and a monotonic-ish
 * wall-clock timestamp. Thread-safe (each line is a single write). */
#ifndef HR_CORE_LOG_H
#define HR_CORE_LOG_H

typedef enum { HR_LOG_DEBUG = 0, HR_LOG_INFO, HR_LOG_WARN, HR_LOG_ERROR, HR_LOG_QUIET } hr_log_level;

void hr_log_set_level(hr_log_level lvl);
hr_log_level hr_log_get_level(void);
void hr_log(hr_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hr_debug(...) hr_log(HR_LOG_DEBUG, __VA_ARGS__)
#define hr_info(...)  hr_log(HR_LOG_INFO, __VA_ARGS__)
#define hr_warn(...)  hr_log(HR_LOG_WARN, __VA_ARGS__)
#define hr_error(...) hr_log(HR_LOG_ERROR, __VA_ARGS__)

#endif
