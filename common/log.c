/* log.c -- see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_threshold = LOG_INFO;
static const char *log_name = "roomcast";
static const char *const LEVEL_WORDS[] = {"debug", "info", "warn", "error"};

void log_init(const char *name)
{
    log_name = name;
}

int log_level_parse(const char *word)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(word, LEVEL_WORDS[i]) == 0)
            return i;
    return -1;
}

void log_line(int level, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    if (level < LOG_DEBUG || level > LOG_ERROR)
        level = LOG_ERROR;
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                     LEVEL_WORDS[level], log_name);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w; /* nowhere to report a failed log write */
}
