/* token_main.c -- bin/roomcast-token, the operator's tool that mints tokens.
 *
 *   roomcast-token [-c FILE] [-o key=value]... --sub UID [--name NAME]
 *                  [--ttl SECONDS] [--rooms a,b,c*] [--nbf SECONDS_FROM_NOW]
 *
 * Reads `jwt_secret` from the same configuration the broker reads (the file
 * given with -c, then -o overrides in order; broker keys are checked, gateway
 * keys ignored), signs an HS256 token with bk_jwt.c and prints it and a
 * newline on stdout. Any error: one line on stderr, exit status 2. The
 * secret is never printed. Single-threaded. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bk_jwt.h"
#include "config.h"
#include "valid.h"

#ifndef ROOMCAST_VERSION
#define ROOMCAST_VERSION "unknown"
#endif

#define PROG "roomcast-token"
#define TTL_DEFAULT 3600
#define SECRET_MIN_BYTES 32 /* RFC 7518 3.2: an HS256 key of 256 bits or more */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [-c FILE] [-o key=value]... --sub UID [--name NAME]\n"
            "       [--ttl SECONDS] [--rooms a,b,c*] [--nbf SECONDS_FROM_NOW]\n"
            "\n"
            "Prints an HS256 JSON Web Token for roomcast's jwt auth mode, signed\n"
            "with jwt_secret from the configuration.\n"
            "\n"
            "  -c FILE            configuration file (the broker's)\n"
            "  -o key=value       set a configuration key (after the file)\n"
            "  --sub UID          the user id, 1-64 of [A-Za-z0-9_.:@-] (required)\n"
            "  --name NAME        display name, 1-32 characters\n"
            "  --ttl SECONDS      lifetime from now (default %d)\n"
            "  --rooms LIST       comma-separated rooms the user may enter; an\n"
            "                     entry ending in '*' is a prefix, '*' alone is any\n"
            "                     room; without --rooms every room is allowed\n"
            "  --nbf SECONDS      not valid until this many seconds from now\n"
            "  --help, --version\n",
            TTL_DEFAULT);
}

/* Parses a whole decimal integer; false on junk or overflow. */
static bool parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
}

/* Matches argv[*i] against "--flag VALUE" or "--flag=VALUE". Returns true
 * when it is that flag; *value is the value, or NULL when it is missing. */
static bool take_flag(int argc, char **argv, int *i, const char *flag,
                      const char **value)
{
    size_t n = strlen(flag);
    const char *a = argv[*i];
    if (strncmp(a, flag, n) != 0)
        return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != '\0')
        return false;
    *value = (*i + 1 < argc) ? argv[++*i] : NULL;
    return true;
}

/* Frees what rooms_parse made. NULL ok. */
static void rooms_free(char **rooms, size_t n)
{
    if (rooms == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(rooms[i]);
    free(rooms);
}

/* Splits list on ',' into *rooms (an owned array of owned strings, free
 * with rooms_free). Empty entries and invalid patterns are errors, reported
 * on stderr; on error nothing is kept. Borrows list. */
static bool rooms_parse(const char *list, char ***rooms, size_t *nrooms)
{
    size_t cap = 1;
    for (const char *p = list; *p; p++)
        cap += *p == ',';
    if (cap > JWT_ROOMS_MAX) {
        fprintf(stderr, PROG ": --rooms: more than %d rooms\n", JWT_ROOMS_MAX);
        return false;
    }
    char **out = calloc(cap, sizeof *out);
    size_t n = 0;
    const char *p = list;
    if (out == NULL)
        goto nomem;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (!jwt_room_pattern_valid(p, len)) {
            fprintf(stderr,
                    PROG ": --rooms: \"%.*s\" is not a room (1-64 of "
                         "[A-Za-z0-9_.:-]), a room prefix followed by '*', or '*'\n",
                    (int)len, p);
            goto fail;
        }
        out[n] = strndup(p, len);
        if (out[n] == NULL)
            goto nomem;
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *rooms = out;
    *nrooms = n;
    return true;
nomem:
    fprintf(stderr, PROG ": out of memory\n");
fail:
    rooms_free(out, n);
    return false;
}

int main(int argc, char **argv)
{
    config cfg;
    const char *sub = NULL, *name = NULL, *rooms_arg = NULL;
    const char *ttl_arg = NULL, *nbf_arg = NULL;
    int64_t ttl = TTL_DEFAULT, nbf_off = 0, now, exp, nbf = 0;
    char **rooms = NULL;
    size_t nrooms = 0;
    char *token = NULL;
    char **cargv = NULL; /* argv[0] and the -c/-o arguments */
    int cargc = 0;
    int status = 2, st;
    rc r;

    /* Our own flags are taken out here; -c and -o (with their values) go on
     * to config_from_args, the parser the broker itself uses. */
    cargv = calloc((size_t)argc + 1, sizeof *cargv);
    if (cargv == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 2;
    }
    cargv[cargc++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            status = 0;
            goto done;
        } else if (strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", ROOMCAST_VERSION);
            status = 0;
            goto done;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "-o") == 0) {
            cargv[cargc++] = argv[i];
            if (i + 1 < argc)
                cargv[cargc++] = argv[++i];
            continue;
        } else if (take_flag(argc, argv, &i, "--sub", &v)) {
            sub = v;
        } else if (take_flag(argc, argv, &i, "--name", &v)) {
            name = v;
        } else if (take_flag(argc, argv, &i, "--ttl", &v)) {
            ttl_arg = v;
        } else if (take_flag(argc, argv, &i, "--rooms", &v)) {
            rooms_arg = v;
        } else if (take_flag(argc, argv, &i, "--nbf", &v)) {
            nbf_arg = v;
        } else {
            fprintf(stderr, PROG ": unknown argument \"%s\" (see --help)\n", a);
            goto done;
        }
        if (v == NULL) {
            fprintf(stderr, PROG ": %s needs a value\n", a);
            goto done;
        }
    }
    st = config_from_args(&cfg, CONFIG_BROKER, PROG, ROOMCAST_VERSION,
                          cargc, cargv, stdout, stderr);
    if (st >= 0) {
        status = st;
        goto done;
    }

    if (cfg.jwt_secret[0] == '\0') {
        fprintf(stderr, PROG ": no jwt_secret configured: set jwt_secret in the "
                        "config file (-c FILE) or pass -o jwt_secret=...\n");
        goto done;
    }
    if (strlen(cfg.jwt_secret) < SECRET_MIN_BYTES)
        fprintf(stderr, PROG ": warning: jwt_secret is shorter than %d bytes; "
                        "HS256 wants a key of 256 bits or more\n",
                SECRET_MIN_BYTES);

    if (sub == NULL) {
        fprintf(stderr, PROG ": --sub UID is required (see --help)\n");
        goto done;
    }
    if (!valid_uid(sub, strlen(sub))) {
        fprintf(stderr, PROG ": --sub: a uid is 1-64 of [A-Za-z0-9_.:@-]\n");
        goto done;
    }
    if (name != NULL && !valid_name(name, strlen(name))) {
        fprintf(stderr, PROG ": --name: a name is 1-32 UTF-8 characters, "
                        "no control characters\n");
        goto done;
    }
    if (ttl_arg != NULL && (!parse_int64(ttl_arg, &ttl) || ttl < 1)) {
        fprintf(stderr, PROG ": --ttl: a whole number of seconds, 1 or more\n");
        goto done;
    }
    if (nbf_arg != NULL && (!parse_int64(nbf_arg, &nbf_off) || nbf_off < 0)) {
        fprintf(stderr, PROG ": --nbf: a whole number of seconds from now, 0 or more\n");
        goto done;
    }

    now = (int64_t)time(NULL);
    if (ttl > INT64_MAX - now) {
        fprintf(stderr, PROG ": --ttl: too large\n");
        goto done;
    }
    exp = now + ttl;
    if (nbf_arg != NULL) {
        if (nbf_off >= ttl) {
            fprintf(stderr, PROG ": --nbf must be less than --ttl, or the token "
                            "is never valid\n");
            goto done;
        }
        nbf = now + nbf_off;
    }
    if (rooms_arg != NULL && !rooms_parse(rooms_arg, &rooms, &nrooms))
        goto done;

    r = jwt_sign(cfg.jwt_secret, sub, name, exp, nbf,
                 (const char *const *)rooms, nrooms, &token);
    if (r == RC_TOO_LARGE) {
        fprintf(stderr, PROG ": the token would be over %d bytes; use fewer "
                        "or shorter rooms (prefixes ending in '*' help)\n",
                JWT_TOKEN_MAX);
        goto done;
    }
    if (r != RC_OK) {
        fprintf(stderr, PROG ": cannot sign: %s\n", rc_str(r));
        goto done;
    }
    if (printf("%s\n", token) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write the token: %s\n", strerror(errno));
        goto done;
    }
    status = 0;
done:
    free(cargv);
    free(token);
    rooms_free(rooms, nrooms);
    return status;
}
