/* proc.h -- what both programs do first: log name, command line, and the
 * signals that ask for a graceful stop. Main thread, at start-up. */
#ifndef PROC_H
#define PROC_H

#include <signal.h>

#include "config.h"

/* Set by SIGTERM or SIGINT; the main loop stops when it is. */
extern volatile sig_atomic_t proc_stopping;

/* Names the log, parses argv into cfg (config_from_args), ignores SIGPIPE
 * and installs the stop signals. Returns -1 when the program should run,
 * else the exit status to return at once (0 after --help, 2 on errors). */
int proc_start(config *cfg, unsigned owner, const char *name,
               const char *prog, const char *version, int argc, char **argv);

#endif
