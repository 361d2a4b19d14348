/* log.h -- one level-gated logging macro; lines go to stderr.
 *
 * A line is: ISO time, level word, the process name, then the message, which
 * by convention is `event=name key=value ...`. Never log a token or secret.
 * Any thread: each line is written with one write(2). */
#ifndef LOG_H
#define LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern int log_threshold; /* lines below this level are dropped */

/* Sets the process name shown on every line. Borrows `name` (keep it alive). */
void log_init(const char *name);

/* "debug" | "info" | "warn" | "error" -> level; -1 for anything else. */
int log_level_parse(const char *word);

void log_line(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG(level, ...)                                                        \
    do {                                                                       \
        if ((level) >= log_threshold)                                          \
            log_line((level), __VA_ARGS__);                                    \
    } while (0)

#endif
