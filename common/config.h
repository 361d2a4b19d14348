/* config.h -- the configuration of both processes, from one table.
 *
 * One file serves both the broker and the gateway (etc/roomcast.conf); each
 * process ignores the other's keys, but a key that neither knows is an error.
 * Format: `key = value` per line; a line whose first non-blank character is
 * `#` is a comment (a `#` after a value is part of the value); blank lines
 * are ignored; spaces around key and value are trimmed. `-o key=value`
 * overrides are applied after the file, in order.
 *
 * The same table (config.c) gives defaults, limits, the --help text and the
 * value checks. Main thread only, at start-up; afterwards the struct is read
 * only and may be read by any thread. */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdio.h>

#include "rc.h"

enum config_owner {
    CONFIG_BROKER = 1,
    CONFIG_GATEWAY = 2,
    CONFIG_BOTH = 3,
};

#define CONFIG_STR_MAX 1024
/* The event kinds webhook_events may list (docs/protocol.md, Webhooks). */
#define WEBHOOK_KINDS "message|enter|out|leave|delete"

typedef struct config {
    /* both */
    char events_url[CONFIG_STR_MAX]; /* gateways send events to the broker */
    char fanout_url[CONFIG_STR_MAX]; /* the broker sends to gateways */
    char auth[CONFIG_STR_MAX];       /* "none" or "jwt" */
    char jwt_secret[CONFIG_STR_MAX]; /* HS256 key; required when auth=jwt */
    char log_level[CONFIG_STR_MAX];  /* debug, info, warn, error */
    /* broker */
    char db[CONFIG_STR_MAX];     /* SQLite file; its directory is created */
    char db_sync[CONFIG_STR_MAX]; /* "normal" or "full" (SQLite synchronous) */
    long offline_max;            /* most messages replayed on enter */
    long gateway_timeout_ms;     /* silent gateway -> its connections out */
    long retention_messages;     /* stored messages kept per room */
    long retention_days;         /* stored messages older are deleted; 0 keeps */
    long commit_batch;           /* most messages per SQLite commit */
    long node_id;                /* replicated broker: member id; 0: off */
    char peers[CONFIG_STR_MAX];  /* ID=HOST:PORT,... every member's Raft address */
    char raft_dir[CONFIG_STR_MAX]; /* this member's Raft log and snapshots */
    long raft_snapshot_rounds;   /* Raft entries between snapshots */
    char webhook_url[CONFIG_STR_MAX];    /* http(s):// URL; empty: off */
    char webhook_secret[CONFIG_STR_MAX]; /* HMAC-SHA256 key of the bodies */
    char webhook_events[CONFIG_STR_MAX]; /* comma-separated kinds sent */
    long webhook_max_pending;    /* outbox bound; past it the oldest go */
    /* gateway */
    char listen[CONFIG_STR_MAX]; /* civetweb listening_ports syntax */
    char www[CONFIG_STR_MAX];    /* static files served at / */
    char id[CONFIG_STR_MAX];     /* gateway id; default host name + pid */
    long heartbeat_ms;           /* server ping period */
    long auth_timeout_ms;        /* jwt mode: close 4001 after this */
    long max_frame_bytes;        /* a message over this closes with 1009 */
    long max_message_bytes;      /* `message` text limit */
    long max_binary_bytes;       /* a binary message over this closes 1009 */
    long rate_per_s;             /* token bucket per connection */
    char allowed_origins[CONFIG_STR_MAX]; /* comma-separated; empty: any */
    long max_conns_per_ip;       /* 0: no cap */
    char trusted_proxies[CONFIG_STR_MAX]; /* comma-separated addresses */
    long threads;                /* civetweb workers; caps connections */
    long send_queue_frames;      /* per-connection outbound queue, frames */
    long send_queue_bytes;       /* per-connection outbound queue, bytes */
    long writers;                /* threads writing to WebSockets */
    long write_timeout_ms;       /* a blocked write fails after this */
    char api_key[CONFIG_STR_MAX]; /* server API key; empty: the API is off */
} config;

/* Fills cfg from the table's defaults (id: host name + pid). */
void config_defaults(config *cfg);

/* Sets one key. `where` names the source for messages ("etc/x.conf:12" or
 * "-o"). Keys of the other owner are accepted and ignored; an unknown key or
 * a bad value writes one line to `err` naming the key and `where`, and
 * returns RC_CONFIG with cfg unchanged. Borrows every string. */
rc config_set(config *cfg, unsigned owner, const char *key, const char *value,
              const char *where, FILE *err);

/* Reads a config file into cfg. A missing file, a line without `=`, an
 * unknown key or a bad value: one line on `err` quoting file:line, and
 * RC_CONFIG. */
rc config_load_file(config *cfg, unsigned owner, const char *path, FILE *err);

/* Checks what single keys cannot (auth=jwt needs jwt_secret, ...). */
rc config_check(const config *cfg, unsigned owner, FILE *err);

/* Parses a process's command line: -c FILE, -o key=value (repeatable),
 * --help, --version. Returns -1 when the process should run with cfg;
 * otherwise the exit status to exit with at once (0 after --help/--version,
 * which print to `out`; 2 on any error, printed to `err`). */
int config_from_args(config *cfg, unsigned owner, const char *prog,
                     const char *version, int argc, char **argv, FILE *out,
                     FILE *err);

/* Prints `key = default   # help` lines for the owner's keys to out. */
void config_print_help(unsigned owner, FILE *out);

#endif
