/* config.c -- the configuration of both processes, from one table; see
 * config.h.
 *
 * CONFIG_KEYS below is the single description of every key: who reads it,
 * its type and limits, its default and its help. config_defaults, config_set
 * (hence the file and -o parsing) and config_print_help are loops over it, so
 * a key added to the table is defaulted, checked and documented at once.
 * For integers min/max bound the value; for strings they bound the length in
 * bytes; an enum lists its words.
 *
 * Main thread only, at start-up: it writes to stdio streams and sets
 * log_threshold. Afterwards the struct is read only and any thread may read
 * it. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "protocol.h"
#include "protocol.h"

enum config_type {
    CONFIG_STRING, /* min..max bytes */
    CONFIG_INT,    /* decimal, min..max */
    CONFIG_ENUM,   /* one of the words */
};

typedef struct config_key {
    const char *key;
    unsigned owner;         /* CONFIG_BROKER, CONFIG_GATEWAY or both */
    enum config_type type;
    long min, max;          /* value (integers) or length (strings) */
    const char *words;      /* enum: "a|b|c" */
    const char *def;        /* default, as it would be written in the file */
    size_t offset;          /* of the field in struct config */
    bool secret;            /* never echo the value */
    const char *help;
} config_key;

#define STR_LEN_MAX (CONFIG_STR_MAX - 1)
#define MS_MAX 3600000L            /* one hour */
#define BYTES_64MIB (64L << 20)

#define STR(k, own, lo, def, help)                                            \
    {#k, own, CONFIG_STRING, lo, STR_LEN_MAX, NULL, def,                       \
     offsetof(config, k), false, help}
#define SECRET(k, own, def, help)                                              \
    {#k, own, CONFIG_STRING, 0, STR_LEN_MAX, NULL, def,                        \
     offsetof(config, k), true, help}
#define INT(k, own, lo, hi, def, help)                                         \
    {#k, own, CONFIG_INT, lo, hi, NULL, def, offsetof(config, k), false, help}
#define ENUM(k, own, words, def, help)                                         \
    {#k, own, CONFIG_ENUM, 0, 0, words, def, offsetof(config, k), false, help}

static const config_key CONFIG_KEYS[] = {
    /* both */
    STR(events_url, CONFIG_BOTH, 1, "tcp://127.0.0.1:7450",
        "nng address: gateways send events to the broker here"),
    STR(fanout_url, CONFIG_BOTH, 1, "tcp://127.0.0.1:7451",
        "nng address: the broker sends to gateways here"),
    ENUM(auth, CONFIG_BOTH, "none|jwt", "none",
         "none: clients name themselves; jwt: HS256 tokens"),
    SECRET(jwt_secret, CONFIG_BOTH, "",
           "HS256 key; required when auth = jwt"),
    ENUM(log_level, CONFIG_BOTH, "debug|info|warn|error", "info",
         "lines below this level are dropped"),
    /* broker */
    STR(db, CONFIG_BROKER, 1, "var/roomcast.db",
        "SQLite file; its directory is created"),
    ENUM(db_sync, CONFIG_BROKER, "normal|full", "normal",
         "normal: commits survive a crash of the process; full: also a "
         "power cut (a disk sync per commit, slower)"),
    INT(offline_max, CONFIG_BROKER, 0, 100000, "1000",
        "most stored messages replayed on enter"),
    INT(gateway_timeout_ms, CONFIG_BROKER, 1, MS_MAX, "3000",
        "a gateway silent this long has its connections taken offline"),
    INT(retention_messages, CONFIG_BROKER, 1, 1000000000L, "100000",
        "stored messages kept per room; older ones are deleted"),
    INT(retention_days, CONFIG_BROKER, 0, 36500, "30",
        "stored messages older than this are deleted; 0 keeps them forever"),
    INT(commit_batch, CONFIG_BROKER, 1, 100000, "500",
        "most messages stored per SQLite commit"),
    STR(webhook_url, CONFIG_BROKER, 0, "",
        "http:// or https:// URL the broker POSTs events to; empty: off"),
    SECRET(webhook_secret, CONFIG_BROKER, "",
           "HMAC-SHA256 key of X-Roomcast-Signature"),
    STR(webhook_events, CONFIG_BROKER, 0, "message,enter,out,leave,delete",
        "comma-separated kinds sent: message, enter, out, leave, delete"),
    INT(webhook_max_pending, CONFIG_BROKER, 1, 1000000000L, "1000000",
        "unacknowledged webhook events kept; past it the oldest are dropped"),
    INT(node_id, CONFIG_BROKER, 0, 255, "0",
        "replicated broker: this member's id in `peers`; 0: one broker"),
    STR(peers, CONFIG_BROKER, 0, "",
        "replicated broker: comma-separated ID=HOST:PORT Raft addresses"),
    STR(raft_dir, CONFIG_BROKER, 1, "var/raft",
        "replicated broker: this member's Raft log and snapshots"),
    INT(raft_snapshot_rounds, CONFIG_BROKER, 8, 1000000000L, "4096",
        "replicated broker: rounds (Raft entries) between snapshots"),
    /* gateway */
    STR(listen, CONFIG_GATEWAY, 1, "8080",
        "civetweb listening_ports, e.g. 127.0.0.1:9001"),
    STR(www, CONFIG_GATEWAY, 1, "www", "directory of static files served at /"),
    /* The broker takes ids of at most GATEWAY_ID_MAX bytes (wire.h). */
    {"id", CONFIG_GATEWAY, CONFIG_STRING, 1, GATEWAY_ID_MAX, NULL, "",
     offsetof(config, id), false,
     "gateway id, unique per broker; empty default: host name-pid"},
    INT(heartbeat_ms, CONFIG_GATEWAY, 100, MS_MAX, "25000",
        "server ping period; a client silent twice this long is closed"),
    INT(auth_timeout_ms, CONFIG_GATEWAY, 1, MS_MAX, "10000",
        "jwt mode: close 4001 when not authenticated after this"),
    INT(max_frame_bytes, CONFIG_GATEWAY, 1024, BYTES_64MIB, "65536",
        "a client message over this closes with 1009"),
    INT(max_message_bytes, CONFIG_GATEWAY, 1, BYTES_64MIB, "16384",
        "`message` text limit; at most max_frame_bytes"),
    INT(max_binary_bytes, CONFIG_GATEWAY, 1024, BINARY_MAX_BYTES, "1048576",
        "a binary message (length, header, payload) over this closes "
        "with 1009"),
    INT(rate_per_s, CONFIG_GATEWAY, 1, 1000000, "50",
        "events per second per connection (token bucket, same burst)"),
    STR(allowed_origins, CONFIG_GATEWAY, 0, "",
        "comma-separated Origin values allowed to upgrade; empty: any"),
    INT(max_conns_per_ip, CONFIG_GATEWAY, 0, 1000000, "0",
        "most connections from one client address; 0: no cap"),
    STR(trusted_proxies, CONFIG_GATEWAY, 0, "127.0.0.1",
        "comma-separated addresses whose X-Forwarded-For is believed"),
    INT(threads, CONFIG_GATEWAY, 8, 60000, "10240",
        "civetweb worker threads; one per open WebSocket, so caps them "
        "(10240: 10,176 WebSockets, 64 kept for HTTP)"),
    INT(send_queue_frames, CONFIG_GATEWAY, 1, 1048576, "4096",
        "outbound queue per connection, frames; full: the client is closed"),
    INT(send_queue_bytes, CONFIG_GATEWAY, 1024, 1L << 30, "4194304",
        "outbound queue per connection, bytes; full: the client is closed"),
    INT(writers, CONFIG_GATEWAY, 1, 64, "2",
        "threads writing to WebSockets"),
    INT(write_timeout_ms, CONFIG_GATEWAY, 1, MS_MAX, "2000",
        "a WebSocket write blocked this long fails and closes the client"),
    SECRET(api_key, CONFIG_GATEWAY, "",
           "server API key (Authorization: Bearer KEY); empty: the API is "
           "off"),
};

#define CONFIG_KEY_COUNT (sizeof CONFIG_KEYS / sizeof CONFIG_KEYS[0])

static const config_key *config_find(const char *key)
{
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++)
        if (strcmp(CONFIG_KEYS[i].key, key) == 0)
            return &CONFIG_KEYS[i];
    return NULL;
}

/* Decimal only, the whole text, optional leading '-': strtol would take
 * leading spaces, a '+', and "0x" with base 0. */
static bool parse_long(const char *text, long *out)
{
    const char *p = text;
    bool negative = *p == '-';
    if (negative)
        p++;
    if (*p == '\0')
        return false;
    /* Build the magnitude in unsigned, bounded by LONG_MAX (+1 if negative) */
    unsigned long limit = (unsigned long)LONG_MAX + (negative ? 1ul : 0ul);
    unsigned long magnitude = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (magnitude > (limit - d) / 10)
            return false;
        magnitude = magnitude * 10 + d;
    }
    /* -LONG_MIN does not fit a long; go through LONG_MIN itself. */
    if (negative)
        *out = magnitude == limit ? LONG_MIN : -(long)magnitude;
    else
        *out = (long)magnitude;
    return true;
}

/* Whether word is one of "a|b|c". */
static bool enum_has(const char *words, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = words;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        if (bar == NULL)
            return false;
        p = bar + 1;
    }
}

/* What a value of k must be, for error messages and --help. */
static void describe(const config_key *k, char *buf, size_t size)
{
    switch (k->type) {
    case CONFIG_INT:
        snprintf(buf, size, "an integer %ld..%ld", k->min, k->max);
        break;
    case CONFIG_ENUM:
        snprintf(buf, size, "one of %s", k->words);
        break;
    case CONFIG_STRING:
        if (k->min > 0)
            snprintf(buf, size, "a string of %ld..%ld bytes", k->min, k->max);
        else
            snprintf(buf, size, "a string of at most %ld bytes", k->max);
        break;
    }
}

/* Checks value against k and stores it in cfg; false (cfg untouched) when
 * the value is bad. */
static bool key_store(config *cfg, const config_key *k, const char *value)
{
    char *field = (char *)cfg + k->offset;
    switch (k->type) {
    case CONFIG_INT: {
        long v;
        if (!parse_long(value, &v) || v < k->min || v > k->max)
            return false;
        memcpy(field, &v, sizeof v);
        return true;
    }
    case CONFIG_ENUM:
        if (!enum_has(k->words, value))
            return false;
        break;
    case CONFIG_STRING: {
        size_t len = strlen(value);
        if (len < (size_t)k->min || len > (size_t)k->max)
            return false;
        break;
    }
    }
    /* Strings and enum words: checked above to fit CONFIG_STR_MAX. */
    snprintf(field, CONFIG_STR_MAX, "%s", value);
    return true;
}

void config_defaults(config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key *k = &CONFIG_KEYS[i];
        /* The one default the table refuses is id's empty string (filled
         * in below); the unit tests check that every other default passes
         * its own key's rules. */
        if (!key_store(cfg, k, k->def) && k->type == CONFIG_STRING)
            snprintf((char *)cfg + k->offset, CONFIG_STR_MAX, "%s", k->def);
    }
    /* Two gateways on one host must differ, hence the pid. gethostname
     * leaves the name unterminated when it is cut. */
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(cfg->id, GATEWAY_ID_MAX + 1, "%.*s-%ld", GATEWAY_ID_MAX - 21,
             host, (long)getpid());
}

rc config_set(config *cfg, unsigned owner, const char *key, const char *value,
              const char *where, FILE *err)
{
    const config_key *k = config_find(key);
    if (k == NULL) {
        fprintf(err, "%s: unknown key '%s'\n", where, key);
        return RC_CONFIG;
    }
    /* One file serves both processes: the other one's keys are skipped
     * without a look at their values, which that process checks. */
    if ((k->owner & owner) == 0)
        return RC_OK;
    if (!key_store(cfg, k, value)) {
        char what[96];
        describe(k, what, sizeof what);
        if (k->secret)
            fprintf(err, "%s: bad value for '%s' (%s)\n", where, key, what);
        else
            fprintf(err, "%s: bad value '%s' for '%s' (%s)\n", where, value,
                    key, what);
        return RC_CONFIG;
    }
    return RC_OK;
}

/* Trims blanks, tabs, CR and the like from both ends, in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n' ||
           *s == '\f' || *s == '\v')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
                     s[n - 1] == '\r' || s[n - 1] == '\n' ||
                     s[n - 1] == '\f' || s[n - 1] == '\v'))
        s[--n] = '\0';
    return s;
}

/* One line of a file (already without its newline); `where` is file:line. */
static rc load_line(config *cfg, unsigned owner, char *line, size_t len,
                    const char *where, FILE *err)
{
    if (strlen(line) != len) {
        fprintf(err, "%s: NUL byte in line\n", where);
        return RC_CONFIG;
    }
    char *text = trim(line);
    if (*text == '\0' || *text == '#')
        return RC_OK;
    char *eq = strchr(text, '=');
    if (eq == NULL) {
        /* Quote only the first word: the line may be a secret typed
         * without its `=` ("jwt_secret s3cret"), and secrets never reach
         * a log. */
        int word = (int)strcspn(text, " \t");
        fprintf(err, "%s: expected 'key = value', got '%.*s ...'\n", where,
                word > 64 ? 64 : word, text);
        return RC_CONFIG;
    }
    *eq = '\0';
    char *key = trim(text);
    char *value = trim(eq + 1);
    if (*key == '\0') {
        fprintf(err, "%s: missing key before '='\n", where);
        return RC_CONFIG;
    }
    return config_set(cfg, owner, key, value, where, err);
}

rc config_load_file(config *cfg, unsigned owner, const char *path, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(err, "cannot read config file '%s': %s\n", path,
                strerror(errno));
        return RC_CONFIG;
    }
    /* Work on a copy so that a bad line leaves cfg as it was (rc.h). */
    config *tmp = malloc(sizeof *tmp);
    if (tmp == NULL) {
        fprintf(err, "cannot read config file '%s': out of memory\n", path);
        fclose(f);
        return RC_CONFIG;
    }
    *tmp = *cfg;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    rc r = RC_OK;
    while (r == RC_OK && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char where[CONFIG_STR_MAX + 32];
        snprintf(where, sizeof where, "%s:%lu", path, lineno);
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        r = load_line(tmp, owner, line, (size_t)n, where, err);
    }
    if (r == RC_OK && ferror(f)) {
        fprintf(err, "cannot read config file '%s': %s\n", path,
                strerror(errno));
        r = RC_CONFIG;
    }
    if (r == RC_OK)
        *cfg = *tmp;
    free(line);
    free(tmp);
    fclose(f);
    return r;
}

/* Whether every comma-separated item of list (blanks around items are
 * allowed, empty items are not) is one of "a|b|c". An empty list is. */
static bool list_of_words(const char *list, const char *words)
{
    char item[CONFIG_STR_MAX];
    for (const char *p = list; *p != '\0';) {
        size_t n = strcspn(p, ",");
        snprintf(item, sizeof item, "%.*s", (int)n, p);
        char *word = trim(item);
        if (*word == '\0' || !enum_has(words, word))
            return false;
        p += n;
        if (*p == ',' && *++p == '\0')
            return false; /* a trailing comma */
    }
    return true;
}

rc config_check(const config *cfg, unsigned owner, FILE *err)
{
    /* auth and jwt_secret belong to both processes. */
    if (strcmp(cfg->auth, "jwt") == 0 && cfg->jwt_secret[0] == '\0') {
        fprintf(err, "config: 'jwt_secret' must be set when auth = jwt\n");
        return RC_CONFIG;
    }
    if ((owner & CONFIG_GATEWAY) != 0 &&
        cfg->max_message_bytes > cfg->max_frame_bytes) {
        fprintf(err,
                "config: 'max_message_bytes' (%ld) must not exceed "
                "'max_frame_bytes' (%ld)\n",
                cfg->max_message_bytes, cfg->max_frame_bytes);
        return RC_CONFIG;
    }
    if ((owner & CONFIG_BROKER) != 0 && cfg->node_id > 0 &&
        (cfg->peers[0] == '\0' || cfg->webhook_url[0] != '\0')) {
        fprintf(err, "config: 'node_id' needs 'peers', and does not work "
                "with 'webhook_url' yet\n");
        return RC_CONFIG;
    }
    if ((owner & CONFIG_BROKER) != 0 && cfg->webhook_url[0] != '\0' &&
        strncmp(cfg->webhook_url, "http://", 7) != 0 &&
        strncmp(cfg->webhook_url, "https://", 8) != 0) {
        fprintf(err, "config: 'webhook_url' must start with http:// or "
                     "https://\n");
        return RC_CONFIG;
    }
    if ((owner & CONFIG_BROKER) != 0 &&
        !list_of_words(cfg->webhook_events, WEBHOOK_KINDS)) {
        fprintf(err, "config: bad value '%s' for 'webhook_events' (a "
                     "comma-separated list of message, enter, out, leave, "
                     "delete)\n", cfg->webhook_events);
        return RC_CONFIG;
    }
    return RC_OK;
}

void config_print_help(unsigned owner, FILE *out)
{
    for (size_t i = 0; i < CONFIG_KEY_COUNT; i++) {
        const config_key *k = &CONFIG_KEYS[i];
        if ((k->owner & owner) == 0)
            continue;
        char what[96];
        describe(k, what, sizeof what);
        char left[CONFIG_STR_MAX + 64];
        snprintf(left, sizeof left, "%s = %s", k->key, k->def);
        fprintf(out, "%-40s # %s (%s)\n", left, k->help, what);
    }
}

static void usage(const char *prog, FILE *f)
{
    fprintf(f,
            "usage: %s [-c FILE] [-o key=value]... [--help] [--version]\n",
            prog);
}

/* A bad command line: the complaint, the usage line, exit status 2. */
static int usage_error(const char *prog, FILE *err, const char *what,
                       const char *arg)
{
    if (arg != NULL)
        fprintf(err, "%s: %s '%s'\n", prog, what, arg);
    else
        fprintf(err, "%s: %s\n", prog, what);
    usage(prog, err);
    return 2;
}

int config_from_args(config *cfg, unsigned owner, const char *prog,
                     const char *version, int argc, char **argv, FILE *out,
                     FILE *err)
{
    config_defaults(cfg);
    const char *file = NULL;
    /* -o values are collected first and applied after the file, whatever
     * their place on the command line (README, "Configuration"). */
    char **overrides = calloc(argc > 0 ? (size_t)argc : 1, sizeof *overrides);
    if (overrides == NULL) {
        fprintf(err, "%s: out of memory\n", prog);
        return 2;
    }
    int n_overrides = 0;
    int status = -1;
    for (int i = 1; i < argc && status < 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(prog, out);
            fprintf(out, "Keys (-o key=value, or `key = value` in the "
                         "-c file), with their defaults:\n");
            config_print_help(owner, out);
            status = 0;
        } else if (strcmp(a, "--version") == 0) {
            fprintf(out, "%s %s\n", prog, version);
            status = 0;
        } else if (strcmp(a, "-c") == 0) {
            if (i + 1 >= argc)
                status = usage_error(prog, err, "-c needs a file", NULL);
            else if (file != NULL)
                status = usage_error(prog, err, "-c given twice", NULL);
            else
                file = argv[++i];
        } else if (strcmp(a, "-o") == 0) {
            if (i + 1 >= argc)
                status = usage_error(prog, err, "-o needs key=value", NULL);
            else if (strchr(argv[i + 1], '=') == NULL)
                status = usage_error(prog, err, "-o needs key=value, got",
                                     argv[i + 1]);
            else
                overrides[n_overrides++] = argv[++i];
        } else {
            status = usage_error(prog, err, "unknown argument", a);
        }
    }
    if (status < 0 && file != NULL &&
        config_load_file(cfg, owner, file, err) != RC_OK)
        status = 2;
    for (int i = 0; status < 0 && i < n_overrides; i++) {
        /* Split a copy: argv stays as the process got it. */
        char *copy = strdup(overrides[i]);
        if (copy == NULL) {
            fprintf(err, "%s: out of memory\n", prog);
            status = 2;
            break;
        }
        char *eq = strchr(copy, '=');
        *eq = '\0';
        if (config_set(cfg, owner, trim(copy), trim(eq + 1), "-o", err) !=
            RC_OK)
            status = 2;
        free(copy);
    }
    free(overrides);
    if (status < 0 && config_check(cfg, owner, err) != RC_OK)
        status = 2;
    if (status < 0)
        log_threshold = log_level_parse(cfg->log_level);
    return status;
}
