/*
 * memcached_shard: a real client that shards keys over memcached servers
 * with libringroute choosing the server for each key, and the memcached
 * text protocol over plain TCP sockets for the I/O (no libmemcached).
 *
 *   memcached_shard [--keys N] [--ctl SCRIPT] [--backup HOST:PORT] HOST:PORT HOST:PORT ...
 *
 * It stores N keys (default 10000) and reads them all back. With --ctl it
 * then plays a failure through, calling `SCRIPT stop I` / `SCRIPT start I`
 * to stop and restart server I (0-based, in the order given):
 *
 *   1. all servers up: every key is set and read back (all hit);
 *   2. one server stopped, not yet known to the router: exactly the keys
 *      routed to it miss (their requests fail), every other key is served;
 *   3. the server marked down: each of its keys now routes to its second
 *      replica (checked against route_n from phase 1), nothing else moves;
 *      the keys are set there and read back;
 *   4. the server restarted (empty) and marked up: every key routes to its
 *      phase-1 server again; its keys miss once (it lost them), are set
 *      again, and then all keys hit.
 *
 * With --backup, that server joins the router in tier 1 (a backup, nginx's
 * `backup` policy: RINGROUTE_TIER_POLICY_STRICT). Through phases 1 to 4 it
 * takes no request at all. With --ctl two more phases follow (the backup is
 * server number N for SCRIPT, after the N primaries):
 *
 *   5. every primary stopped and marked down: every key routes to the
 *      backup, is set there and read back;
 *   6. the primaries restarted (empty) and marked up: every key routes to
 *      its phase-1 server again and the backup takes no request; the keys
 *      are set again and all hit.
 *
 * Every request goes through a ringroute ticket (lease, then success with
 * its latency, or failure), so the router's per-node counters are real.
 * The counts are printed and asserted; the exit status is non-zero if any
 * assertion fails.
 *
 * Build: cc -std=c99 memcached_shard.c $(pkg-config --cflags --libs ringroute)
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ringroute.h>

#define MAX_SERVERS 16
#define MAX_KEYS 1000000

/* ------------------------------------------------------------ servers */

typedef struct server {
    char name[64]; /* "host:port": the node's name in the router */
    char host[48];
    int port;
    int fd;           /* -1 when not connected */
    char buf[8192];   /* received, not yet consumed */
    size_t have, at;
} server;

static server servers[MAX_SERVERS + 1];
static size_t n_servers;
static int has_backup; /* servers[n_servers] is the backup (node n_servers) */

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void disconnect(server *s) {
    if (s->fd >= 0) {
        close(s->fd);
    }
    s->fd = -1;
    s->have = s->at = 0;
}

static int connect_to(server *s) {
    struct sockaddr_in addr;
    struct timeval timeout = {2, 0};
    int one = 1;
    if (s->fd >= 0) {
        return 0;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)s->port);
    if (inet_pton(AF_INET, s->host, &addr.sin_addr) != 1) {
        return -1;
    }
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->fd < 0) {
        return -1;
    }
    setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s->fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        disconnect(s);
        return -1;
    }
    return 0;
}

static int send_all(server *s, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = send(s->fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one "\r\n"-terminated line (without it) into `line`. */
static int read_line(server *s, char *line, size_t cap) {
    size_t len = 0;
    for (;;) {
        while (s->at < s->have) {
            char c = s->buf[s->at++];
            if (c == '\n') {
                if (len > 0 && line[len - 1] == '\r') {
                    len--;
                }
                line[len] = '\0';
                return 0;
            }
            if (len + 1 >= cap) {
                return -1;
            }
            line[len++] = c;
        }
        {
            ssize_t n = recv(s->fd, s->buf, sizeof s->buf, 0);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                return -1;
            }
            s->have = (size_t)n;
            s->at = 0;
        }
    }
}

/* set: 0 stored, -1 I/O error (the connection is dropped). */
static int mc_set(server *s, const char *key, const char *value) {
    char req[512], line[256];
    int n;
    if (connect_to(s) != 0) {
        return -1;
    }
    n = snprintf(req, sizeof req, "set %s 0 0 %zu\r\n%s\r\n", key, strlen(value), value);
    if (n < 0 || (size_t)n >= sizeof req || send_all(s, req, (size_t)n) != 0 ||
        read_line(s, line, sizeof line) != 0 || strcmp(line, "STORED") != 0) {
        disconnect(s);
        return -1;
    }
    return 0;
}

/* get: 1 hit with `value`, 0 miss (or another value), -1 I/O error. */
static int mc_get(server *s, const char *key, const char *value) {
    char req[300], line[512], data[512];
    int n, hit = 0;
    if (connect_to(s) != 0) {
        return -1;
    }
    n = snprintf(req, sizeof req, "get %s\r\n", key);
    if (n < 0 || (size_t)n >= sizeof req || send_all(s, req, (size_t)n) != 0) {
        disconnect(s);
        return -1;
    }
    for (;;) {
        unsigned flags;
        size_t bytes;
        char got_key[256];
        if (read_line(s, line, sizeof line) != 0) {
            disconnect(s);
            return -1;
        }
        if (strcmp(line, "END") == 0) {
            return hit;
        }
        if (sscanf(line, "VALUE %255s %u %zu", got_key, &flags, &bytes) != 3 ||
            bytes >= sizeof data || read_line(s, data, sizeof data) != 0 ||
            strlen(data) != bytes) {
            disconnect(s);
            return -1;
        }
        hit = strcmp(got_key, key) == 0 && strcmp(data, value) == 0;
    }
}

/* ------------------------------------------------------ the client */

static ringroute_router *router;
static int failures;

#define EXPECT(cond, ...)                                                  \
    do {                                                                   \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAILED (%s:%d): %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

static void die(const char *what, ringroute_status status) {
    fprintf(stderr, "%s: %s (%s)\n", what, ringroute_status_name((int32_t)status),
            ringroute_last_error());
    exit(2);
}

static void key_of(size_t i, char *key, size_t cap) { snprintf(key, cap, "user:%zu", i); }
static void value_of(size_t i, int round, char *v, size_t cap) {
    snprintf(v, cap, "value-%zu-round-%d", i, round);
}

/* One request through a ringroute ticket: route (lease), do it, report. */
typedef enum { OP_SET, OP_GET } op;

static int request(op what, const char *key, const char *value, uint32_t *node_out) {
    ringroute_ticket *ticket = NULL;
    uint32_t node = 0;
    uint64_t start = now_us();
    int result;
    ringroute_status status = ringroute_lease(router, (const uint8_t *)key, strlen(key), &node,
                                              &ticket);
    if (status != RINGROUTE_OK) {
        die("ringroute_lease", status);
    }
    result = what == OP_SET ? mc_set(&servers[node], key, value)
                            : mc_get(&servers[node], key, value);
    if (result < 0) {
        status = ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_FAILURE, 0);
    } else {
        status = ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, now_us() - start);
    }
    if (status != RINGROUTE_OK) {
        die("ringroute_ticket_finish", status);
    }
    if (node_out != NULL) {
        *node_out = node;
    }
    return result;
}

static int run_ctl(const char *ctl, const char *verb, size_t index) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s %zu", ctl, verb, index);
    return system(cmd);
}

typedef struct tally {
    size_t hits, misses, errors;
    size_t per_node[MAX_SERVERS + 1];
} tally;

static int parse_server(const char *arg, server *s) {
    const char *colon = strrchr(arg, ':');
    if (colon == NULL || strlen(arg) >= sizeof s->name ||
        (size_t)(colon - arg) >= sizeof s->host) {
        fprintf(stderr, "bad server %s (want HOST:PORT)\n", arg);
        return -1;
    }
    snprintf(s->name, sizeof s->name, "%s", arg);
    memcpy(s->host, arg, (size_t)(colon - arg));
    s->host[colon - arg] = '\0';
    s->port = atoi(colon + 1);
    s->fd = -1;
    return 0;
}

static void count(tally *t, int result, uint32_t node) {
    if (result > 0) {
        t->hits++;
    } else if (result == 0) {
        t->misses++;
    } else {
        t->errors++;
    }
    if (node <= MAX_SERVERS) {
        t->per_node[node]++;
    }
}

int main(int argc, char **argv) {
    const char *ctl = NULL;
    size_t n_keys = 10000, i, victim;
    uint32_t *first = NULL, *second = NULL;
    ringroute_node nodes[MAX_SERVERS + 1];
    uint32_t tiers[MAX_SERVERS + 1];
    const char *backup = NULL;
    ringroute_config config;
    ringroute_status status;
    char key[64], value[96];
    int a;
    tally t;

    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--ctl") == 0 && a + 1 < argc) {
            ctl = argv[++a];
        } else if (strcmp(argv[a], "--keys") == 0 && a + 1 < argc) {
            n_keys = (size_t)strtoul(argv[++a], NULL, 10);
        } else if (strcmp(argv[a], "--backup") == 0 && a + 1 < argc) {
            backup = argv[++a];
        } else if (n_servers < MAX_SERVERS) {
            if (parse_server(argv[a], &servers[n_servers]) != 0) {
                return 2;
            }
            n_servers++;
        }
    }
    if (backup != NULL) {
        if (parse_server(backup, &servers[n_servers]) != 0) {
            return 2;
        }
        has_backup = 1;
    }
    for (i = 0; i < n_servers + (size_t)has_backup; i++) {
        nodes[i].name = (const uint8_t *)servers[i].name;
        nodes[i].name_len = strlen(servers[i].name);
        nodes[i].weight = 1.0;
        tiers[i] = i < n_servers ? 0 : 1; /* the backup: tier 1 */
    }
    if (n_servers < 2 || n_keys == 0 || n_keys > MAX_KEYS) {
        fprintf(stderr, "usage: %s [--keys N] [--ctl SCRIPT] HOST:PORT HOST:PORT ...\n",
                argv[0]);
        return 2;
    }

    /* Outlier detection is off: this program drives health by hand (mark
     * down/up) to show exactly which keys move. A production client leaves
     * it on, and failed requests eject a node by themselves. */
    ringroute_config_default(&config);
    config.outlier_detection = 0;
    status = ringroute_router_new_tiered(&config, nodes, tiers, n_servers + (size_t)has_backup,
                                         RINGROUTE_TIER_POLICY_STRICT,
                                         RINGROUTE_DEFAULT_OVERPROVISIONING, &router);
    if (status != RINGROUTE_OK) {
        die("ringroute_router_new_tiered", status);
    }
    printf("libringroute %s: %zu servers%s%s, %zu keys\n", ringroute_version(), n_servers,
           has_backup ? " and the backup " : "", has_backup ? servers[n_servers].name : "",
           n_keys);

    first = (uint32_t *)calloc(n_keys, sizeof *first);
    second = (uint32_t *)calloc(n_keys, sizeof *second);
    if (first == NULL || second == NULL) {
        return 2;
    }

    /* Phase 1: everything up. */
    memset(&t, 0, sizeof t);
    for (i = 0; i < n_keys; i++) {
        uint32_t replicas[2];
        size_t got = 0;
        key_of(i, key, sizeof key);
        value_of(i, 1, value, sizeof value);
        EXPECT(request(OP_SET, key, value, &first[i]) == 0, "set %s", key);
        status = ringroute_route_n(router, (const uint8_t *)key, strlen(key), replicas, 2, &got);
        if (status != RINGROUTE_OK || got != 2) {
            die("ringroute_route_n", status);
        }
        EXPECT(replicas[0] == first[i], "route_n primary of %s", key);
        second[i] = replicas[1];
    }
    for (i = 0; i < n_keys; i++) {
        uint32_t node = UINT32_MAX;
        int r;
        key_of(i, key, sizeof key);
        value_of(i, 1, value, sizeof value);
        r = request(OP_GET, key, value, &node);
        count(&t, r, node);
    }
    printf("phase 1, all up:     %zu hits, %zu misses, %zu errors; keys per server:", t.hits,
           t.misses, t.errors);
    for (i = 0; i < n_servers; i++) {
        printf(" %s=%zu", servers[i].name, t.per_node[i]);
    }
    printf("\n");
    EXPECT(t.hits == n_keys && t.misses == 0 && t.errors == 0, "phase 1 must hit every key");
    EXPECT(t.per_node[n_servers] == 0, "the backup takes no request while the primaries are up");
    for (i = 0; i < n_servers; i++) {
        EXPECT(t.per_node[i] > n_keys / n_servers / 2, "server %zu gets a fair share", i);
    }

    if (ctl != NULL) {
        size_t victim_keys, moved_ok = 0, others_same = 0;
        ringroute_node_info info;
        tally before = t;

        victim = 1 % n_servers;
        victim_keys = before.per_node[victim];

        /* Phase 2: the server dies; the router does not know yet. */
        if (run_ctl(ctl, "stop", victim) != 0) {
            fprintf(stderr, "%s stop %zu failed\n", ctl, victim);
            return 2;
        }
        memset(&t, 0, sizeof t);
        for (i = 0; i < n_keys; i++) {
            uint32_t node = UINT32_MAX;
            int r;
            key_of(i, key, sizeof key);
            value_of(i, 1, value, sizeof value);
            r = request(OP_GET, key, value, &node);
            count(&t, r, node);
            EXPECT(node == first[i], "%s still routes to its server", key);
            EXPECT((r == 1) == (node != victim), "%s: result %d on server %u", key, r, node);
        }
        ringroute_get_node_info(router, (const uint8_t *)servers[victim].name,
                                strlen(servers[victim].name), &info);
        printf("phase 2, %s stopped: %zu hits, %zu failed (%zu keys on it, %.1f%% of all);"
               " its failures counted by the router: %llu\n",
               servers[victim].name, t.hits, t.errors + t.misses, victim_keys,
               100.0 * (double)victim_keys / (double)n_keys, (unsigned long long)info.failures);
        EXPECT(t.errors + t.misses == victim_keys, "exactly the stopped server's keys miss");
        EXPECT(t.per_node[n_servers] == 0, "the backup takes no request");
        EXPECT(t.hits == n_keys - victim_keys, "every other key is served");
        EXPECT(info.failures == victim_keys, "each failed request was reported");

        /* Phase 3: mark it down; its keys go to their second replica. */
        status = ringroute_mark_down(router, (const uint8_t *)servers[victim].name,
                                     strlen(servers[victim].name));
        if (status != RINGROUTE_OK) {
            die("ringroute_mark_down", status);
        }
        memset(&t, 0, sizeof t);
        for (i = 0; i < n_keys; i++) {
            uint32_t node = 0;
            int r;
            key_of(i, key, sizeof key);
            value_of(i, 1, value, sizeof value);
            r = request(OP_GET, key, value, &node);
            count(&t, r, node);
            if (first[i] == victim) {
                moved_ok += node == second[i];
                EXPECT(node == second[i], "%s moves to its second replica", key);
                EXPECT(r == 0, "%s is not on its replica yet", key);
                value_of(i, 3, value, sizeof value);
                EXPECT(request(OP_SET, key, value, NULL) == 0, "set %s on the replica", key);
                EXPECT(request(OP_GET, key, value, NULL) == 1, "get %s from the replica", key);
            } else {
                others_same += node == first[i];
                EXPECT(node == first[i] && r == 1, "%s stays and hits", key);
            }
        }
        printf("phase 3, %s down:    %zu of its %zu keys routed to their second replica (set and"
               " read back there), %zu other keys unmoved and hit, %zu errors\n",
               servers[victim].name, moved_ok, victim_keys, others_same, t.errors);
        EXPECT(moved_ok == victim_keys, "all of its keys moved to the second replica");
        EXPECT(others_same == n_keys - victim_keys, "no other key moved");
        EXPECT(t.errors == 0, "no request failed");
        EXPECT(t.per_node[n_servers] == 0, "the backup takes no request");

        /* Phase 4: restarted (empty) and marked up; keys come back. */
        if (run_ctl(ctl, "start", victim) != 0) {
            fprintf(stderr, "%s start %zu failed\n", ctl, victim);
            return 2;
        }
        status = ringroute_mark_up(router, (const uint8_t *)servers[victim].name,
                                   strlen(servers[victim].name));
        if (status != RINGROUTE_OK) {
            die("ringroute_mark_up", status);
        }
        memset(&t, 0, sizeof t);
        {
            size_t back = 0, refilled = 0, all_hits = 0;
            for (i = 0; i < n_keys; i++) {
                uint32_t node = 0;
                int r;
                key_of(i, key, sizeof key);
                value_of(i, 1, value, sizeof value);
                r = request(OP_GET, key, value, &node);
                count(&t, r, node);
                back += node == first[i];
                EXPECT(node == first[i], "%s routes back to its server", key);
                if (node == victim) {
                    EXPECT(r == 0, "%s: the restarted server is empty", key);
                    refilled += request(OP_SET, key, value, NULL) == 0;
                } else {
                    EXPECT(r == 1, "%s still hits", key);
                }
            }
            for (i = 0; i < n_keys; i++) {
                key_of(i, key, sizeof key);
                value_of(i, 1, value, sizeof value);
                all_hits += request(OP_GET, key, value, NULL) == 1;
            }
            printf("phase 4, %s back up: %zu keys routed as in phase 1; %zu misses (its keys, lost"
                   " in the restart), refilled %zu; then %zu of %zu hit\n",
                   servers[victim].name, back, t.misses, refilled, all_hits, n_keys);
            EXPECT(back == n_keys, "every key is back on its phase-1 server");
            EXPECT(t.misses == victim_keys && t.errors == 0, "only its keys missed");
            EXPECT(refilled == victim_keys, "its keys were set again");
            EXPECT(all_hits == n_keys, "all keys hit at the end");
            EXPECT(t.per_node[n_servers] == 0, "the backup takes no request");
        }
    }

    if (ctl != NULL && has_backup) {
        size_t on_backup = 0, hits = 0, back = 0;
        /* Phase 5: every primary stopped and marked down: the backup serves. */
        for (i = 0; i < n_servers; i++) {
            if (run_ctl(ctl, "stop", i) != 0) {
                fprintf(stderr, "%s stop %zu failed\n", ctl, i);
                return 2;
            }
            /* No request will fail on it (it is marked down at once), so
             * drop its connection here rather than on a failed request. */
            disconnect(&servers[i]);
            status = ringroute_mark_down(router, (const uint8_t *)servers[i].name,
                                         strlen(servers[i].name));
            if (status != RINGROUTE_OK) {
                die("ringroute_mark_down", status);
            }
        }
        for (i = 0; i < n_keys; i++) {
            uint32_t node = 0;
            key_of(i, key, sizeof key);
            value_of(i, 5, value, sizeof value);
            EXPECT(request(OP_SET, key, value, &node) == 0, "set %s on the backup", key);
            on_backup += node == n_servers;
            hits += request(OP_GET, key, value, NULL) == 1;
        }
        printf("phase 5, all %zu primaries down: %zu of %zu keys routed to the backup %s, %zu"
               " set and read back there\n",
               n_servers, on_backup, n_keys, servers[n_servers].name, hits);
        EXPECT(on_backup == n_keys, "every key goes to the backup");
        EXPECT(hits == n_keys, "the backup serves every key");

        /* Phase 6: the primaries restarted (empty) and marked up. */
        for (i = 0; i < n_servers; i++) {
            if (run_ctl(ctl, "start", i) != 0) {
                fprintf(stderr, "%s start %zu failed\n", ctl, i);
                return 2;
            }
            status = ringroute_mark_up(router, (const uint8_t *)servers[i].name,
                                       strlen(servers[i].name));
            if (status != RINGROUTE_OK) {
                die("ringroute_mark_up", status);
            }
        }
        memset(&t, 0, sizeof t);
        hits = 0;
        for (i = 0; i < n_keys; i++) {
            uint32_t node = 0;
            int r;
            key_of(i, key, sizeof key);
            value_of(i, 6, value, sizeof value);
            r = request(OP_SET, key, value, &node);
            count(&t, r == 0 ? 1 : -1, node);
            back += node == first[i];
            hits += request(OP_GET, key, value, NULL) == 1;
        }
        printf("phase 6, primaries back up: %zu of %zu keys routed as in phase 1, %zu on the"
               " backup; %zu set and read back\n",
               back, n_keys, t.per_node[n_servers], hits);
        EXPECT(back == n_keys, "every key is back on its phase-1 server");
        EXPECT(t.per_node[n_servers] == 0, "the backup is idle again");
        EXPECT(hits == n_keys && t.errors == 0, "the primaries serve every key");
    }

    for (i = 0; i < n_servers + (size_t)has_backup; i++) {
        disconnect(&servers[i]);
    }
    ringroute_router_free(router);
    free(first);
    free(second);
    if (failures != 0) {
        printf("memcached_shard: %d assertions FAILED\n", failures);
        return 1;
    }
    printf("memcached_shard: all assertions held\n");
    return 0;
}
