/* fuzz_config.c -- libFuzzer target for common/config.c's file parser.
 *
 * The input is a config file. It is written to an in-memory file (memfd)
 * and loaded with config_load_file for the broker, the gateway and both;
 * error lines go to a memory stream. Invariants:
 *   - a failed load leaves the config exactly as it was, and says why in
 *     at least one line;
 *   - a successful load leaves every string field NUL-terminated and says
 *     nothing;
 *   - the file loads for CONFIG_BOTH exactly when it loads for the broker
 *     and for the gateway (each line is checked by the owners of its key);
 *   - a jwt_secret value never reaches the error text: the same file with
 *     that value's bytes replaced (same length) gives the same errors;
 *   - config_check runs on every loaded config without trouble. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"

static int fd = -1;
static char path[64];
static config defaults;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fd = memfd_create("roomcast-fuzz.conf", 0);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    config_defaults(&defaults);
    return 0;
}

/* Loads the file for owner into a copy of the defaults; returns the rc and
 * leaves the error text in *err_text (free it). */
static rc load(unsigned owner, config *cfg, char **err_text, size_t *err_len)
{
    *cfg = defaults;
    *err_text = NULL;
    *err_len = 0;
    FILE *err = open_memstream(err_text, err_len);
    if (err == NULL)
        abort();
    rc r = config_load_file(cfg, owner, path, err);
    fclose(err);
    return r;
}

static void check_strings(const config *c)
{
    const char *fields[] = {c->events_url, c->fanout_url, c->auth,
                            c->jwt_secret, c->log_level, c->db, c->listen,
                            c->www, c->id, c->allowed_origins,
                            c->trusted_proxies};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        FUZZ_ASSERT(memchr(fields[i], '\0', CONFIG_STR_MAX) != NULL,
                    "string field %zu not terminated", i);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' ||
           c == '\n';
}

/* The results of loading one file for the three owners. */
typedef struct loaded {
    rc rcs[3];
    char *err[3]; /* owned */
    size_t err_len[3];
} loaded;

static const unsigned OWNERS[3] = {CONFIG_BROKER, CONFIG_GATEWAY,
                                   CONFIG_BOTH};

static void put_file(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) != 0 ||
        pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
}

/* Loads the file now in the memfd for each owner, checking the invariants
 * of a single load. */
static void load_all(loaded *l)
{
    static config cfg; /* 20 KiB: not on the stack */
    for (int i = 0; i < 3; i++) {
        rc r = load(OWNERS[i], &cfg, &l->err[i], &l->err_len[i]);
        l->rcs[i] = r;
        FUZZ_ASSERT(r == RC_OK || r == RC_CONFIG, "rc %d", r);
        if (r == RC_OK) {
            FUZZ_ASSERT(l->err_len[i] == 0, "success with an error line: %.*s",
                        (int)(l->err_len[i] < 300 ? l->err_len[i] : 300),
                        l->err[i]);
            check_strings(&cfg);
            FILE *null = fopen("/dev/null", "w");
            config_check(&cfg, OWNERS[i], null);
            fclose(null);
        } else {
            FUZZ_ASSERT(memcmp(&cfg, &defaults, sizeof cfg) == 0,
                        "failed load changed the config");
            FUZZ_ASSERT(l->err_len[i] > 0 && l->err[i][l->err_len[i] - 1] ==
                        '\n', "failure without a complete error line");
        }
    }
}

static void loaded_free(loaded *l)
{
    for (int i = 0; i < 3; i++)
        free(l->err[i]);
}

/* For each `jwt_secret = VALUE` line: the same file with VALUE's bytes
 * replaced by others of the same length (same validity: only the length
 * counts) must load with the same results and the very same error text.
 * A difference means the secret's bytes reached an error line. */
static void check_secret_not_echoed(const uint8_t *data, size_t size,
                                    const loaded *orig)
{
    const char *text = (const char *)data;
    static const char KEY[] = "jwt_secret";
    size_t at = 0;
    while (at < size) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t end = nl ? (size_t)(nl - text) : size;
        size_t a = at, b = end;
        at = end + 1;
        while (a < b && is_blank(text[a]))
            a++;
        if (b - a <= sizeof KEY - 1 ||
            memcmp(text + a, KEY, sizeof KEY - 1) != 0)
            continue;
        size_t k = a + sizeof KEY - 1;
        while (k < b && is_blank(text[k]))
            k++;
        if (k >= b || text[k] != '=')
            continue;
        size_t v = k + 1;
        while (v < b && is_blank(text[v]))
            v++;
        while (b > v && is_blank(text[b - 1]))
            b--;
        if (b == v || memchr(text + v, '\0', b - v) != NULL ||
            memchr(text, '\0', v) != NULL)
            continue; /* empty, or a NUL line (refused before any echo) */
        uint8_t *copy = malloc(size);
        if (copy == NULL)
            abort();
        memcpy(copy, data, size);
        for (size_t i = v; i < b; i++)
            copy[i] = copy[i] == 'x' ? 'y' : 'x';
        put_file(copy, size);
        loaded l;
        load_all(&l);
        for (int i = 0; i < 3; i++) {
            FUZZ_ASSERT(l.rcs[i] == orig->rcs[i],
                        "jwt_secret's bytes changed the result");
            FUZZ_ASSERT(l.err_len[i] == orig->err_len[i] &&
                        memcmp(l.err[i], orig->err[i], l.err_len[i]) == 0,
                        "jwt_secret value echoed in: %.*s",
                        (int)(orig->err_len[i] < 300 ? orig->err_len[i]
                                                     : 300), orig->err[i]);
        }
        loaded_free(&l);
        free(copy);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    put_file(data, size);
    loaded l;
    load_all(&l);
    FUZZ_ASSERT((l.rcs[2] == RC_OK) == (l.rcs[0] == RC_OK &&
                                        l.rcs[1] == RC_OK),
                "both=%d broker=%d gateway=%d", l.rcs[2], l.rcs[0], l.rcs[1]);
    if (l.rcs[0] != RC_OK || l.rcs[1] != RC_OK || l.rcs[2] != RC_OK)
        check_secret_not_echoed(data, size, &l);
    loaded_free(&l);
    return 0;
}
