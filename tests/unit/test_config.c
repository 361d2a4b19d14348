/* test_config.c -- unit tests of common/config.c: defaults, value checks,
 * the file format and its error lines, cross-key checks, the command line,
 * and that etc/roomcast.conf loads cleanly for both processes and documents
 * every key. Single-threaded; writes temporary files under $TMPDIR (or /tmp).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "protocol.h"
#include "log.h"

/* A FILE* whose text the test can read back (the `err`/`out` argument). */
typedef struct capture {
    FILE *f;
    char *buf;
    size_t len;
} capture;

static void cap_open(capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
}

/* Everything written so far. */
static const char *cap_text(capture *c)
{
    fflush(c->f);
    return c->buf != NULL ? c->buf : "";
}

static void cap_close(capture *c)
{
    fclose(c->f);
    free(c->buf);
}

/* Writes text to a new temporary file; its path goes to path (64 bytes). */
static void temp_file(char *path, const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%s/roomcast-test-XXXXXX", dir != NULL ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len) {
        perror("temp_file");
        exit(2);
    }
    close(fd);
}

TEST(defaults_match_design)
{
    config c;
    config_defaults(&c);
    CHECK_STR(c.events_url, "tcp://127.0.0.1:7450");
    CHECK_STR(c.fanout_url, "tcp://127.0.0.1:7451");
    CHECK_STR(c.auth, "none");
    CHECK_STR(c.jwt_secret, "");
    CHECK_STR(c.log_level, "info");
    CHECK_STR(c.db, "var/roomcast.db");
    CHECK_EQ_INT(c.offline_max, 1000);
    CHECK_EQ_INT(c.gateway_timeout_ms, 3000);
    CHECK_EQ_INT(c.retention_messages, 100000);
    CHECK_EQ_INT(c.retention_days, 30);
    CHECK_EQ_INT(c.commit_batch, 500);
    CHECK_STR(c.listen, "8080");
    CHECK_STR(c.www, "www");
    CHECK_EQ_INT(c.heartbeat_ms, 25000);
    CHECK_EQ_INT(c.auth_timeout_ms, 10000);
    CHECK_EQ_INT(c.max_frame_bytes, 65536);
    CHECK_EQ_INT(c.max_message_bytes, 16384);
    CHECK_EQ_INT(c.max_binary_bytes, 1048576);
    CHECK_EQ_INT(c.rate_per_s, 50);
    CHECK_STR(c.allowed_origins, "");
    CHECK_EQ_INT(c.max_conns_per_ip, 0);
    CHECK_STR(c.trusted_proxies, "127.0.0.1");
    CHECK_EQ_INT(c.threads, 10240);
    CHECK_EQ_INT(c.send_queue_frames, 4096);
    CHECK_EQ_INT(c.send_queue_bytes, 4194304);
    CHECK_EQ_INT(c.writers, 2);
    CHECK_EQ_INT(c.write_timeout_ms, 2000);
}

TEST(default_id_is_host_and_pid)
{
    config c;
    config_defaults(&c);
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    char want[300];
    snprintf(want, sizeof want, "%s-%ld", host, (long)getpid());
    CHECK_STR(c.id, want);
    CHECK_EQ_INT(config_check(&c, CONFIG_BOTH, stderr), RC_OK);
}

/* Each line of the --help text, fed back through config_set: the defaults
 * the table prints must pass the table's own rules (id's empty default is
 * the one exception: config_defaults fills it). Also counts the keys. */
TEST(every_printed_default_passes_its_own_rules)
{
    capture out;
    cap_open(&out);
    config_print_help(CONFIG_BOTH, out.f);
    char *text = strdup(cap_text(&out));
    int keys = 0;
    for (char *line = strtok(text, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        char key[64], value[256] = "";
        char *hash = strstr(line, " # ");
        CHECK(hash != NULL);
        if (hash == NULL)
            continue;
        *hash = '\0';
        CHECK(sscanf(line, "%63s = %255s", key, value) >= 1);
        config c;
        config_defaults(&c);
        capture err;
        cap_open(&err);
        rc r = config_set(&c, CONFIG_BOTH, key, value, "help", err.f);
        if (strcmp(key, "id") == 0) {
            CHECK_EQ_INT(r, RC_CONFIG);
        } else {
            CHECK_EQ_INT(r, RC_OK);
            CHECK_STR(cap_text(&err), "");
        }
        cap_close(&err);
        keys++;
    }
    CHECK_EQ_INT(keys, 38);
    free(text);
    cap_close(&out);
}

TEST(help_lists_only_the_owners_keys)
{
    capture b, g;
    cap_open(&b);
    cap_open(&g);
    config_print_help(CONFIG_BROKER, b.f);
    config_print_help(CONFIG_GATEWAY, g.f);
    CHECK_CONTAINS(cap_text(&b), "events_url = tcp://127.0.0.1:7450");
    CHECK_CONTAINS(cap_text(&b), "offline_max = 1000");
    CHECK_CONTAINS(cap_text(&b), "(an integer 0..100000)");
    CHECK(!check_contains(cap_text(&b), "heartbeat_ms"));
    CHECK_CONTAINS(cap_text(&g), "auth = none");
    CHECK_CONTAINS(cap_text(&g), "(one of none|jwt)");
    CHECK_CONTAINS(cap_text(&g), "heartbeat_ms = 25000");
    CHECK(!check_contains(cap_text(&g), "offline_max"));
    cap_close(&b);
    cap_close(&g);
}

TEST(set_integers)
{
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "heartbeat_ms", "100", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(c.heartbeat_ms, 100);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "heartbeat_ms", "3600000",
                            "-o", err.f), RC_OK);
    CHECK_EQ_INT(c.heartbeat_ms, 3600000);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "heartbeat_ms", "0042", "-o",
                            err.f), RC_CONFIG); /* 42 < 100 */
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "rate_per_s", "0042", "-o",
                            err.f), RC_OK); /* decimal, not octal */
    CHECK_EQ_INT(c.rate_per_s, 42);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_conns_per_ip", "0", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "writers", "64", "-o", err.f),
                 RC_OK);
    CHECK_EQ_INT(c.writers, 64);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "threads", "8", "-o", err.f),
                 RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "threads", "60000", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_frame_bytes", "67108864",
                            "-o", err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "retention_days", "0", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(c.retention_days, 0);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "offline_max", "0", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(c.offline_max, 0);
    cap_close(&err);
}

TEST(set_refuses_bad_integers_with_cfg_unchanged)
{
    static const char *const bad[] = {
        "",    "abc", "1.5",  "0x10", "+200", " 200", "200 ", "2e3",
        "-5",  "99",  "3600001", "99999999999999999999999",
        "-99999999999999999999999", "200ms", "-", "--1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config c;
        config_defaults(&c);
        config before = c;
        capture err;
        cap_open(&err);
        CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "heartbeat_ms", bad[i],
                                "-o", err.f), RC_CONFIG);
        char want[256];
        snprintf(want, sizeof want,
                 "-o: bad value '%s' for 'heartbeat_ms' "
                 "(an integer 100..3600000)\n", bad[i]);
        CHECK_STR(cap_text(&err), want);
        CHECK(memcmp(&c, &before, sizeof c) == 0);
        cap_close(&err);
    }
}

TEST(set_integer_limits_of_each_kind)
{
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "writers", "0", "-o", err.f),
                 RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "writers", "65", "-o", err.f),
                 RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "threads", "7", "-o", err.f),
                 RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "threads", "60001", "-o",
                            err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_frame_bytes", "1023",
                            "-o", err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_frame_bytes", "67108865",
                            "-o", err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_message_bytes", "0", "-o",
                            err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_binary_bytes", "1023",
                            "-o", err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_binary_bytes", "8388609",
                            "-o", err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "max_binary_bytes", "8388608",
                            "-o", err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "rate_per_s", "0", "-o",
                            err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "write_timeout_ms", "0", "-o",
                            err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "offline_max", "100001", "-o",
                            err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "gateway_timeout_ms", "0", "-o",
                            err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "commit_batch", "0", "-o",
                            err.f), RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "retention_days", "-1", "-o",
                            err.f), RC_CONFIG);
    /* LONG_MAX and LONG_MIN themselves parse; they are just out of range. */
    char text[32];
    snprintf(text, sizeof text, "%ld", LONG_MIN);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "writers", text, "-o", err.f),
                 RC_CONFIG);
    CHECK_CONTAINS(cap_text(&err), "bad value '-9223372036854775808' for "
                                   "'writers' (an integer 1..64)");
    cap_close(&err);
    CHECK_EQ_INT(c.writers, 2);
}

TEST(set_enums)
{
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "auth", "jwt", "-o", err.f),
                 RC_OK);
    CHECK_STR(c.auth, "jwt");
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "log_level", "debug", "-o",
                            err.f), RC_OK);
    CHECK_STR(c.log_level, "debug");
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "log_level", "error", "-o",
                            err.f), RC_OK);
    CHECK_STR(cap_text(&err), "");
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "auth", "JWT", "x.conf:3", err.f),
                 RC_CONFIG);
    CHECK_STR(cap_text(&err),
              "x.conf:3: bad value 'JWT' for 'auth' (one of none|jwt)\n");
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "auth", "", "-o", err.f),
                 RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "auth", "no", "-o", err.f),
                 RC_CONFIG); /* a prefix of a word is not the word */
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "auth", "none|jwt", "-o", err.f),
                 RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "log_level", "warning", "-o",
                            err.f), RC_CONFIG);
    CHECK_STR(c.auth, "jwt");
    CHECK_STR(c.log_level, "error");
    cap_close(&err);
}

TEST(set_strings)
{
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    char longest[CONFIG_STR_MAX + 1];
    memset(longest, 'x', CONFIG_STR_MAX);
    longest[CONFIG_STR_MAX - 1] = '\0';
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "db", longest, "-o", err.f),
                 RC_OK);
    CHECK_STR(c.db, longest);
    longest[CONFIG_STR_MAX - 1] = 'x';
    longest[CONFIG_STR_MAX] = '\0';
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "db", longest, "-o", err.f),
                 RC_CONFIG);
    CHECK_EQ_INT(strlen(c.db), CONFIG_STR_MAX - 1);
    /* Keys that must not be empty, and keys where empty means something. */
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "events_url", "", "-o", err.f),
                 RC_CONFIG);
    CHECK_CONTAINS(cap_text(&err),
                   "-o: bad value '' for 'events_url' (a string of 1..1023 "
                   "bytes)");
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "id", "", "-o", err.f),
                 RC_CONFIG);
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "allowed_origins", "", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "trusted_proxies", "", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "allowed_origins",
                            "https://a.example,https://b.example", "-o",
                            err.f), RC_OK);
    CHECK_STR(c.allowed_origins, "https://a.example,https://b.example");
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "id", "gw-1", "-o", err.f),
                 RC_OK);
    CHECK_STR(c.id, "gw-1");
    /* A gateway id longer than the broker takes (GATEWAY_ID_MAX) is
     * refused here, naming the key, instead of being ignored there. */
    char id[GATEWAY_ID_MAX + 2];
    memset(id, 'g', sizeof id);
    id[GATEWAY_ID_MAX] = '\0';
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "id", id, "-o", err.f),
                 RC_OK);
    id[GATEWAY_ID_MAX] = 'g';
    id[GATEWAY_ID_MAX + 1] = '\0';
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "id", id, "-o", err.f),
                 RC_CONFIG);
    CHECK_CONTAINS(cap_text(&err), "for 'id' (a string of 1..255 bytes)");
    CHECK_EQ_INT(strlen(c.id), GATEWAY_ID_MAX);
    cap_close(&err);
}

TEST(secret_never_echoed)
{
    config c;
    config_defaults(&c);
    char secret[CONFIG_STR_MAX + 8];
    memset(secret, 's', sizeof secret - 1);
    secret[sizeof secret - 1] = '\0';
    memcpy(secret, "TOPSECRET", 9);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "jwt_secret", secret, "-o",
                            err.f), RC_CONFIG);
    CHECK_CONTAINS(cap_text(&err), "-o: bad value for 'jwt_secret'");
    CHECK(!check_contains(cap_text(&err), "TOPSECRET"));
    CHECK_EQ_INT(config_set(&c, CONFIG_BOTH, "jwt_secret", "k3y", "-o",
                            err.f), RC_OK);
    CHECK_STR(c.jwt_secret, "k3y");
    cap_close(&err);
}

TEST(set_unknown_key)
{
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "foo", "1", "roomcast.conf:12",
                            err.f), RC_CONFIG);
    CHECK_STR(cap_text(&err), "roomcast.conf:12: unknown key 'foo'\n");
    cap_close(&err);
    cap_open(&err);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "Heartbeat_ms", "1000", "-o",
                            err.f), RC_CONFIG); /* keys are case-sensitive */
    CHECK_STR(cap_text(&err), "-o: unknown key 'Heartbeat_ms'\n");
    cap_close(&err);
}

TEST(set_ignores_the_other_owners_keys)
{
    config c;
    config_defaults(&c);
    config before = c;
    capture err;
    cap_open(&err);
    /* The broker skips gateway keys, even with values the gateway would
     * refuse: the gateway reports those itself. And the other way round. */
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "heartbeat_ms", "1000", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "threads", "lots", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "db", "other.db", "-o",
                            err.f), RC_OK);
    CHECK_EQ_INT(config_set(&c, CONFIG_GATEWAY, "offline_max", "-1", "-o",
                            err.f), RC_OK);
    CHECK(memcmp(&c, &before, sizeof c) == 0);
    CHECK_STR(cap_text(&err), "");
    /* Keys of both apply to each. */
    CHECK_EQ_INT(config_set(&c, CONFIG_BROKER, "auth", "jwt", "-o", err.f),
                 RC_OK);
    CHECK_STR(c.auth, "jwt");
    cap_close(&err);
}

TEST(load_file_format)
{
    static const char text[] =
        "# a comment\n"
        "\n"
        "   # an indented comment\n"
        "\t\n"
        "listen = 127.0.0.1:9001\n"
        "heartbeat_ms=5000\n"
        "  rate_per_s   =   7  \n"
        "www = /srv/www # this is part of the value\n"
        "allowed_origins =\n"
        "db = my.db\r\n"
        "jwt_secret = a=b=c\n"
        "rate_per_s = 8\n"
        "log_level = warn"; /* no newline at the end */
    char path[64];
    temp_file(path, text, sizeof text - 1);
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_load_file(&c, CONFIG_BOTH, path, err.f), RC_OK);
    CHECK_STR(cap_text(&err), "");
    CHECK_STR(c.listen, "127.0.0.1:9001");
    CHECK_EQ_INT(c.heartbeat_ms, 5000);
    CHECK_EQ_INT(c.rate_per_s, 8); /* the last line wins */
    CHECK_STR(c.www, "/srv/www # this is part of the value");
    CHECK_STR(c.allowed_origins, "");
    CHECK_STR(c.db, "my.db"); /* CRLF line ends are fine */
    CHECK_STR(c.jwt_secret, "a=b=c"); /* split at the first '=' */
    CHECK_STR(c.log_level, "warn");
    cap_close(&err);
    unlink(path);
}

TEST(load_file_owner_skips_other_keys)
{
    static const char text[] = "db = b.db\nlisten = 9000\nauth = jwt\n";
    char path[64];
    temp_file(path, text, sizeof text - 1);
    config b, g;
    config_defaults(&b);
    config_defaults(&g);
    CHECK_EQ_INT(config_load_file(&b, CONFIG_BROKER, path, stderr), RC_OK);
    CHECK_EQ_INT(config_load_file(&g, CONFIG_GATEWAY, path, stderr), RC_OK);
    CHECK_STR(b.db, "b.db");
    CHECK_STR(b.listen, "8080");
    CHECK_STR(g.db, "var/roomcast.db");
    CHECK_STR(g.listen, "9000");
    CHECK_STR(b.auth, "jwt");
    CHECK_STR(g.auth, "jwt");
    unlink(path);
}

/* Loads text from a temporary file; checks the call fails, that the error
 * is `want` with PATH replaced by the file's path, and that cfg is as it
 * was (a bad line late in a file undoes none of the earlier ones). */
static void load_fails(const char *text, size_t len, const char *want)
{
    char path[64];
    temp_file(path, text, len);
    config c;
    config_defaults(&c);
    config before = c;
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_load_file(&c, CONFIG_GATEWAY, path, err.f),
                 RC_CONFIG);
    char expect[512];
    const char *at = strstr(want, "PATH");
    snprintf(expect, sizeof expect, "%.*s%s%s", (int)(at - want), want, path,
             at + 4);
    CHECK_STR(cap_text(&err), expect);
    CHECK(memcmp(&c, &before, sizeof c) == 0);
    cap_close(&err);
    unlink(path);
}

TEST(load_file_errors_quote_file_and_line)
{
    static const char unknown[] = "listen = 9000\n# c\nfoo = 1\n";
    load_fails(unknown, sizeof unknown - 1, "PATH:3: unknown key 'foo'\n");
    static const char no_eq[] = "listen = 9000\n\njust some words\n";
    load_fails(no_eq, sizeof no_eq - 1,
               "PATH:3: expected 'key = value', got 'just ...'\n");
    static const char bad[] = "heartbeat_ms = 10\n";
    load_fails(bad, sizeof bad - 1,
               "PATH:1: bad value '10' for 'heartbeat_ms' "
               "(an integer 100..3600000)\n");
    static const char no_key[] = "listen = 1\n = 5\n";
    load_fails(no_key, sizeof no_key - 1, "PATH:2: missing key before '='\n");
    static const char nul[] = "listen = 1\nwww = a\0b\n";
    load_fails(nul, sizeof nul - 1, "PATH:2: NUL byte in line\n");
    /* Errors stop at the first bad line. */
    static const char two[] = "a = 1\nb = 2\n";
    load_fails(two, sizeof two - 1, "PATH:1: unknown key 'a'\n");
}

TEST(load_missing_file)
{
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_load_file(&c, CONFIG_BOTH, "/nonexistent/x.conf",
                                  err.f), RC_CONFIG);
    CHECK_STR(cap_text(&err), "cannot read config file '/nonexistent/x.conf': "
                              "No such file or directory\n");
    cap_close(&err);
    cap_open(&err);
    CHECK_EQ_INT(config_load_file(&c, CONFIG_BOTH, "/", err.f), RC_CONFIG);
    CHECK_CONTAINS(cap_text(&err), "cannot read config file '/'");
    cap_close(&err);
}

TEST(check_cross_key_rules)
{
    config c;
    config_defaults(&c);
    capture err;
    cap_open(&err);
    CHECK_EQ_INT(config_check(&c, CONFIG_BOTH, err.f), RC_OK);
    snprintf(c.auth, sizeof c.auth, "jwt");
    CHECK_EQ_INT(config_check(&c, CONFIG_BROKER, err.f), RC_CONFIG);
    CHECK_CONTAINS(cap_text(&err), "jwt_secret");
    CHECK_EQ_INT(config_check(&c, CONFIG_GATEWAY, err.f), RC_CONFIG);
    snprintf(c.jwt_secret, sizeof c.jwt_secret, "k");
    CHECK_EQ_INT(config_check(&c, CONFIG_BOTH, err.f), RC_OK);
    cap_close(&err);

    cap_open(&err);
    c.max_message_bytes = c.max_frame_bytes;
    CHECK_EQ_INT(config_check(&c, CONFIG_GATEWAY, err.f), RC_OK);
    c.max_message_bytes = c.max_frame_bytes + 1;
    CHECK_EQ_INT(config_check(&c, CONFIG_GATEWAY, err.f), RC_CONFIG);
    CHECK_CONTAINS(cap_text(&err), "max_message_bytes");
    CHECK_CONTAINS(cap_text(&err), "max_frame_bytes");
    /* The broker does not read those keys, so it does not judge them. */
    CHECK_EQ_INT(config_check(&c, CONFIG_BROKER, err.f), RC_OK);
    cap_close(&err);
}

/* Runs config_from_args on a NULL-terminated argument list. */
typedef struct run {
    config cfg;
    int status;
    capture out, err;
} run;

static void run_args(run *r, unsigned owner, char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    cap_open(&r->out);
    cap_open(&r->err);
    r->status = config_from_args(&r->cfg, owner, "roomcast-gateway", "0.1.0",
                                 argc, argv, r->out.f, r->err.f);
    cap_text(&r->out);
    cap_text(&r->err);
}

static void run_close(run *r)
{
    cap_close(&r->out);
    cap_close(&r->err);
}

TEST(args_none_runs_with_defaults)
{
    run r;
    char *argv[] = {"roomcast-gateway", NULL};
    log_threshold = LOG_ERROR;
    run_args(&r, CONFIG_GATEWAY, argv);
    CHECK_EQ_INT(r.status, -1);
    CHECK_EQ_INT(r.cfg.heartbeat_ms, 25000);
    CHECK_EQ_INT(log_threshold, LOG_INFO);
    CHECK_STR(r.out.buf, "");
    CHECK_STR(r.err.buf, "");
    run_close(&r);
}

TEST(args_file_then_overrides_in_order)
{
    static const char text[] = "heartbeat_ms = 5000\nrate_per_s = 9\n"
                               "log_level = error\n";
    char path[64];
    temp_file(path, text, sizeof text - 1);
    run r;
    /* -o given before -c still applies after the file; two -o of one key:
     * the later wins. */
    char *argv[] = {"gw", "-o", "heartbeat_ms=7000", "-c", path,
                    "-o", "rate_per_s = 11", "-o", "rate_per_s=12",
                    "-o", "log_level=debug", NULL};
    run_args(&r, CONFIG_GATEWAY, argv);
    CHECK_EQ_INT(r.status, -1);
    CHECK_STR(r.err.buf, "");
    CHECK_EQ_INT(r.cfg.heartbeat_ms, 7000);
    CHECK_EQ_INT(r.cfg.rate_per_s, 12);
    CHECK_STR(r.cfg.log_level, "debug");
    CHECK_EQ_INT(log_threshold, LOG_DEBUG);
    run_close(&r);
    log_threshold = LOG_INFO;
    unlink(path);
}

TEST(args_help_and_version)
{
    run r;
    char *help[] = {"gw", "--help", NULL};
    run_args(&r, CONFIG_GATEWAY, help);
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out.buf, "usage: roomcast-gateway [-c FILE]");
    CHECK_CONTAINS(r.out.buf, "heartbeat_ms = 25000");
    CHECK_CONTAINS(r.out.buf, "events_url = tcp://127.0.0.1:7450");
    CHECK(!check_contains(r.out.buf, "offline_max"));
    CHECK_STR(r.err.buf, "");
    run_close(&r);

    /* --help wins over a bad config file that follows it. */
    char *help2[] = {"gw", "--help", "-c", "/nonexistent", NULL};
    run_args(&r, CONFIG_BROKER, help2);
    CHECK_EQ_INT(r.status, 0);
    CHECK_CONTAINS(r.out.buf, "offline_max = 1000");
    run_close(&r);

    char *version[] = {"gw", "--version", NULL};
    run_args(&r, CONFIG_GATEWAY, version);
    CHECK_EQ_INT(r.status, 0);
    CHECK_STR(r.out.buf, "roomcast-gateway 0.1.0\n");
    run_close(&r);
}

/* Runs argv and checks for exit status 2 with `want` in the error text. */
static void args_fail(unsigned owner, char **argv, const char *want)
{
    run r;
    run_args(&r, owner, argv);
    CHECK_EQ_INT(r.status, 2);
    CHECK_CONTAINS(r.err.buf, want);
    CHECK_STR(r.out.buf, "");
    run_close(&r);
}

TEST(args_errors_exit_2)
{
    char *a1[] = {"gw", "--bogus", NULL};
    args_fail(CONFIG_GATEWAY, a1, "unknown argument '--bogus'");
    char *a2[] = {"gw", "extra", NULL};
    args_fail(CONFIG_GATEWAY, a2, "usage: roomcast-gateway");
    char *a3[] = {"gw", "-c", NULL};
    args_fail(CONFIG_GATEWAY, a3, "-c needs a file");
    char *a4[] = {"gw", "-o", NULL};
    args_fail(CONFIG_GATEWAY, a4, "-o needs key=value");
    char *a5[] = {"gw", "-o", "heartbeat_ms", NULL};
    args_fail(CONFIG_GATEWAY, a5, "-o needs key=value, got 'heartbeat_ms'");
    char *a6[] = {"gw", "-o", "foo=1", NULL};
    args_fail(CONFIG_GATEWAY, a6, "-o: unknown key 'foo'");
    char *a7[] = {"gw", "-o", "heartbeat_ms=x", NULL};
    args_fail(CONFIG_GATEWAY, a7,
              "-o: bad value 'x' for 'heartbeat_ms' "
              "(an integer 100..3600000)");
    char *a8[] = {"gw", "-c", "/nonexistent/r.conf", NULL};
    args_fail(CONFIG_BROKER, a8, "cannot read config file "
                                 "'/nonexistent/r.conf': No such file");
    char *a9[] = {"gw", "-c", "a", "-c", "b", NULL};
    args_fail(CONFIG_BROKER, a9, "-c given twice");
    char *a10[] = {"gw", "-o", "auth=jwt", NULL};
    args_fail(CONFIG_BROKER, a10, "jwt_secret");
    char *a11[] = {"gw", "-o", "max_message_bytes=70000", NULL};
    args_fail(CONFIG_GATEWAY, a11, "max_message_bytes");
    /* An unknown key is an error for both processes. */
    char *a12[] = {"gw", "-o", "nosuch=1", NULL};
    args_fail(CONFIG_BROKER, a12, "-o: unknown key 'nosuch'");
}

TEST(args_unknown_key_in_file_exit_2)
{
    static const char text[] = "listen = 9000\nnosuch = 1\n";
    char path[64];
    temp_file(path, text, sizeof text - 1);
    char want[128];
    snprintf(want, sizeof want, "%s:2: unknown key 'nosuch'", path);
    char *argv[] = {"gw", "-c", path, NULL};
    args_fail(CONFIG_GATEWAY, argv, want);
    unlink(path);
}

/* The example config: tests run from the repository root (make), but the
 * binary also finds it from its own place, build/san/tests/unit/. */
static const char *example_path(void)
{
    static char path[4096];
    if (access("etc/roomcast.conf", R_OK) == 0)
        return "etc/roomcast.conf";
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return "etc/roomcast.conf";
    exe[n] = '\0';
    for (int up = 0; up < 6; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        int len = snprintf(path, sizeof path, "%s/etc/roomcast.conf", exe);
        if (len > 0 && (size_t)len < sizeof path && access(path, R_OK) == 0)
            return path;
    }
    return "etc/roomcast.conf";
}

TEST(example_config_loads_for_both_and_holds_the_defaults)
{
    static const unsigned owners[] = {CONFIG_BROKER, CONFIG_GATEWAY};
    for (size_t i = 0; i < 2; i++) {
        config c, d;
        config_defaults(&c);
        config_defaults(&d);
        capture err;
        cap_open(&err);
        CHECK_EQ_INT(config_load_file(&c, owners[i], example_path(), err.f),
                     RC_OK);
        CHECK_EQ_INT(config_check(&c, owners[i], err.f), RC_OK);
        CHECK_STR(cap_text(&err), "");
        /* Its values are the defaults (the file documents them). */
        CHECK(memcmp(&c, &d, sizeof c) == 0);
        cap_close(&err);
    }
}

TEST(example_config_documents_every_key)
{
    FILE *f = fopen(example_path(), "r");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    capture help;
    cap_open(&help);
    config_print_help(CONFIG_BOTH, help.f);
    char *keys = strdup(cap_text(&help));
    for (char *line = strtok(keys, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        char key[64], want[80];
        if (sscanf(line, "%63s", key) != 1)
            continue;
        /* At the start of a line, as a setting or a commented-out one. */
        snprintf(want, sizeof want, "\n%s =", key);
        char want_commented[80];
        snprintf(want_commented, sizeof want_commented, "\n# %s =", key);
        if (!check_contains(text, want) &&
            !check_contains(text, want_commented))
            CHECK_CONTAINS(text, want);
    }
    free(keys);
    cap_close(&help);
}

RUN_TESTS(config)
