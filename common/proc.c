/* proc.c -- see proc.h. */
#include "proc.h"

#include <stdio.h>

#include "log.h"

volatile sig_atomic_t proc_stopping;

static void on_signal(int sig)
{
    (void)sig;
    proc_stopping = 1;
}

int proc_start(config *cfg, unsigned owner, const char *name,
               const char *prog, const char *version, int argc, char **argv)
{
    log_init(name);
    int code = config_from_args(cfg, owner, prog, version, argc, argv,
                                stdout, stderr);
    if (code >= 0)
        return code;
    signal(SIGPIPE, SIG_IGN); /* a dead peer is an error value, not a kill */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return -1;
}
