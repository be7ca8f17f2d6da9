/*
 * C99 tests of libringroute: key movement on membership changes, leases and
 * tickets, outlier ejection, heartbeats, bounded loads, and routing from
 * several threads while another changes the membership. Part of
 * test_ringroute.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* ------------------------------------------------ membership movement */

#define MOVE_KEYS 2000
static char before_names[MOVE_KEYS][16];
static char second_names[MOVE_KEYS][16];

void test_membership_moves_few_keys(void) {
    static const char *const FIVE[] = {"n0", "n1", "n2", "n3", "n4"};
    ringroute_router *router = router_of(FIVE, 5, NULL);
    ringroute_node next[6];
    uint64_t gen = 0, gen2 = 0;
    uint32_t index = 77;
    int i, moved;
    char now[16], key[32];

    for (i = 0; i < MOVE_KEYS; i++) {
        uint32_t replicas[2];
        size_t count = 0, len = sizeof second_names[i] - 1;
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, before_names[i], sizeof before_names[i]);
        CHECK_OK(ringroute_route_n(router, BYTES(key), replicas, 2, &count));
        CHECK(count == 2);
        CHECK_OK(ringroute_node_name(router, replicas[1], (uint8_t *)second_names[i], &len));
        second_names[i][len] = '\0';
    }
    CHECK_OK(ringroute_generation(router, &gen));

    /* Adding n5 moves keys only to n5. */
    CHECK_OK(ringroute_add(router, BYTES("n5"), 1.0, &index));
    CHECK(index == 5);
    CHECK_OK(ringroute_generation(router, &gen2));
    CHECK(gen2 > gen);
    for (i = 0, moved = 0; i < MOVE_KEYS; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, now, sizeof now);
        if (strcmp(now, before_names[i]) != 0) {
            CHECK(strcmp(now, "n5") == 0);
            moved++;
        }
    }
    CHECK(moved > MOVE_KEYS / 12 && moved < MOVE_KEYS / 3);
    /* Removing it moves exactly those keys back. */
    CHECK_OK(ringroute_remove(router, BYTES("n5")));
    for (i = 0; i < MOVE_KEYS; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, now, sizeof now);
        CHECK(strcmp(now, before_names[i]) == 0);
    }
    /* Doubling n2's weight moves keys only to n2; restoring it undoes that. */
    CHECK_OK(ringroute_set_weight(router, BYTES("n2"), 2.0));
    for (i = 0, moved = 0; i < MOVE_KEYS; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, now, sizeof now);
        if (strcmp(now, before_names[i]) != 0) {
            CHECK(strcmp(now, "n2") == 0);
            moved++;
        }
    }
    CHECK(moved > 0);
    CHECK_OK(ringroute_set_weight(router, BYTES("n2"), 1.0));
    /* Marking n3 down hands each of its keys to its second replica. */
    CHECK_OK(ringroute_mark_down(router, BYTES("n3")));
    for (i = 0; i < MOVE_KEYS; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, now, sizeof now);
        if (strcmp(before_names[i], "n3") == 0) {
            CHECK(strcmp(now, second_names[i]) == 0);
        } else {
            CHECK(strcmp(now, before_names[i]) == 0);
        }
    }
    CHECK_OK(ringroute_mark_up(router, BYTES("n3")));
    for (i = 0; i < MOVE_KEYS; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, now, sizeof now);
        CHECK(strcmp(now, before_names[i]) == 0);
    }
    /* Replace keeps the indices of the nodes that stay. */
    for (i = 0; i < 5; i++) {
        next[i].name = (const uint8_t *)FIVE[4 - i];
        next[i].name_len = 2;
        next[i].weight = 1.0;
    }
    next[5].name = (const uint8_t *)"n6";
    next[5].name_len = 2;
    next[5].weight = 1.0;
    CHECK_OK(ringroute_replace(router, next, 6));
    CHECK_OK(ringroute_node_index(router, BYTES("n4"), &index));
    CHECK(index == 4);
    CHECK_OK(ringroute_node_index(router, BYTES("n6"), &index));
    CHECK(index == 5);
    ringroute_router_free(router);
}

/* ------------------------------------------- leases, health, clocks */

void test_leases_and_outlier_ejection(void) {
    ringroute_clock *clock = NULL;
    ringroute_config config;
    ringroute_router *router;
    ringroute_ticket *ticket = NULL, *late = NULL;
    ringroute_node_info info;
    ringroute_health health;
    uint32_t node = 77, node2 = 77;
    const uint32_t bad = 1; /* beta */
    int i;

    CHECK_OK(ringroute_manual_clock_new(1000, &clock));
    CHECK_OK(ringroute_config_default(&config));
    config.outlier.consecutive_failures = 3;
    config.outlier.base_ejection_ms = 1000;
    config.outlier.max_ejection_ms = 5000;
    config.outlier.max_ejected_share = 1.0;
    config.clock = clock;
    router = router_of(THREE, 3, &config);

    CHECK_OK(ringroute_lease(router, BYTES("key-3"), &node, &ticket));
    CHECK(node == 2); /* gamma, as ringroute_route says */
    CHECK_OK(ringroute_ticket_node(ticket, &node2));
    CHECK(node2 == node);
    CHECK_OK(ringroute_get_node_info(router, BYTES("gamma"), &info));
    CHECK(info.index == 2 && info.in_flight == 1 && info.weight == 1.0);
    CHECK(info.health == RINGROUTE_HEALTH_UP);
    CHECK_OK(ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 1500));
    CHECK_OK(ringroute_get_node_info(router, BYTES("gamma"), &info));
    CHECK(info.in_flight == 0 && info.successes == 1 && info.failures == 0);

    /* A ticket freed unfinished counts as abandoned. */
    CHECK_OK(ringroute_start(router, 0, &ticket));
    ringroute_ticket_free(ticket);
    CHECK_OK(ringroute_get_node_info(router, BYTES("alpha"), &info));
    CHECK(info.in_flight == 0 && info.successes == 0 && info.failures == 0);

    /* Three failures in a row eject beta; its keys go elsewhere meanwhile. */
    for (i = 0; i < 3; i++) {
        CHECK_OK(ringroute_start(router, bad, &ticket));
        CHECK_OK(ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_FAILURE, 0));
    }
    CHECK_OK(ringroute_node_health(router, BYTES("beta"), &health));
    CHECK(health == RINGROUTE_HEALTH_EJECTED);
    CHECK_OK(ringroute_get_node_info(router, BYTES("beta"), &info));
    CHECK(info.failures == 3 && info.consecutive_failures == 0);
    for (i = 0; i < 200; i++) {
        char key[32];
        snprintf(key, sizeof key, "user:%d", i);
        CHECK_OK(ringroute_route(router, BYTES(key), &node));
        CHECK(node != bad);
    }
    /* mark_up does not end an ejection; time does, at a tick. */
    CHECK_OK(ringroute_mark_up(router, BYTES("beta")));
    CHECK_OK(ringroute_clock_advance(clock, 999));
    CHECK_OK(ringroute_tick(router));
    CHECK_OK(ringroute_node_health(router, BYTES("beta"), &health));
    CHECK(health == RINGROUTE_HEALTH_EJECTED);
    CHECK_OK(ringroute_clock_advance(clock, 1));
    CHECK_OK(ringroute_tick(router));
    CHECK_OK(ringroute_node_health(router, BYTES("beta"), &health));
    CHECK(health == RINGROUTE_HEALTH_UP);

    /* A ticket may outlive its router. */
    CHECK_OK(ringroute_lease(router, BYTES("late"), &node, &late));
    ringroute_router_free(router);
    CHECK_OK(ringroute_ticket_finish(late, RINGROUTE_OUTCOME_SUCCESS, 10));

    /* A router keeps its clock alive after the caller frees it. */
    router = router_of(THREE, 3, &config);
    ringroute_clock_free(clock);
    CHECK_OK(ringroute_tick(router));
    CHECK_OK(ringroute_lease(router, BYTES("key-1"), &node, &ticket));
    CHECK_OK(ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 10));
    ringroute_router_free(router);
}

void test_phi_accrual_heartbeats(void) {
    static const char *const TWO[] = {"a", "b"};
    ringroute_clock *clock = NULL;
    ringroute_config config;
    ringroute_router *router;
    ringroute_health health;
    uint32_t node;
    int i, routed_to_a = 0;

    CHECK_OK(ringroute_manual_clock_new(0, &clock));
    CHECK_OK(ringroute_config_default(&config));
    config.phi_accrual = 1;
    config.clock = clock;
    router = router_of(TWO, 2, &config);
    for (i = 0; i < 10; i++) {
        CHECK_OK(ringroute_heartbeat(router, BYTES("a")));
        CHECK_OK(ringroute_heartbeat(router, BYTES("b")));
        CHECK_OK(ringroute_clock_advance(clock, 1000));
        CHECK_OK(ringroute_tick(router));
    }
    CHECK_OK(ringroute_node_health(router, BYTES("a"), &health));
    CHECK(health == RINGROUTE_HEALTH_UP);
    /* a falls silent. */
    for (i = 0; i < 5; i++) {
        CHECK_OK(ringroute_heartbeat(router, BYTES("b")));
        CHECK_OK(ringroute_clock_advance(clock, 1000));
        CHECK_OK(ringroute_tick(router));
    }
    CHECK_OK(ringroute_node_health(router, BYTES("a"), &health));
    CHECK(health == RINGROUTE_HEALTH_UNREACHABLE);
    for (i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof key, "user:%d", i);
        CHECK_OK(ringroute_route(router, BYTES(key), &node));
        routed_to_a += node == 0;
    }
    CHECK(routed_to_a == 0);
    /* One heartbeat brings it back at once. */
    CHECK_OK(ringroute_heartbeat(router, BYTES("a")));
    CHECK_OK(ringroute_node_health(router, BYTES("a"), &health));
    CHECK(health == RINGROUTE_HEALTH_UP);
    ringroute_router_free(router);
    ringroute_clock_free(clock);
}

void test_bounded_loads(void) {
    static const char *const FOUR[] = {"w", "x", "y", "z"};
    ringroute_ticket *tickets[100];
    ringroute_config config;
    ringroute_router *router;
    size_t per_node[4];
    int pass, i, used, most;

    for (pass = 0; pass < 2; pass++) {
        CHECK_OK(ringroute_config_default(&config));
        config.bounded_loads = pass == 0 ? 0.0 : 1.25;
        router = router_of(FOUR, 4, &config);
        memset(per_node, 0, sizeof per_node);
        for (i = 0; i < 100; i++) {
            uint32_t node = 77;
            CHECK_OK(ringroute_lease(router, BYTES("hot-key"), &node, &tickets[i]));
            if (node < 4) {
                per_node[node]++;
            }
        }
        for (i = 0, used = 0, most = 0; i < 4; i++) {
            used += per_node[i] > 0;
            most = (int)per_node[i] > most ? (int)per_node[i] : most;
        }
        if (pass == 0) {
            CHECK(used == 1 && most == 100); /* sticky: one node takes all */
        } else {
            CHECK(used == 4 && most <= 33); /* at most ceil(1.25 * 100 / 4) + 1 */
        }
        for (i = 0; i < 100; i++) {
            CHECK_OK(ringroute_ticket_finish(tickets[i], RINGROUTE_OUTCOME_SUCCESS, 100));
        }
        ringroute_router_free(router);
    }
}

/* ------------------------------------------- algorithms, keyless picks */

void test_every_algorithm(void) {
    static const char *const SIX[] = {"m0", "m1", "m2", "m3", "m4", "m5"};
    const ringroute_algorithm algorithms[] = {RINGROUTE_ALGORITHM_RING, RINGROUTE_ALGORITHM_JUMP,
                                              RINGROUTE_ALGORITHM_RENDEZVOUS,
                                              RINGROUTE_ALGORITHM_MAGLEV,
                                              RINGROUTE_ALGORITHM_JUMPBACK};
    ringroute_config config;
    ringroute_router *none = NULL;
    size_t a;
    int i;

    for (a = 0; a < sizeof algorithms / sizeof algorithms[0]; a++) {
        ringroute_router *router;
        int moved = 0, used[6] = {0, 0, 0, 0, 0, 0};
        CHECK_OK(ringroute_config_default(&config));
        config.algorithm = algorithms[a];
        router = router_of(SIX, 6, &config);
        for (i = 0; i < 600; i++) {
            char key[32];
            uint32_t node = 77, replicas[3];
            size_t count = 0;
            snprintf(key, sizeof key, "algo:%d", i);
            CHECK_OK(ringroute_route(router, BYTES(key), &node));
            CHECK(node < 6);
            used[node < 6 ? node : 0]++;
            CHECK_OK(ringroute_route_n(router, BYTES(key), replicas, 3, &count));
            CHECK(count == 3 && replicas[0] == node && replicas[1] != node &&
                  replicas[2] != replicas[1]);
            route_to(router, key, before_names[i], sizeof before_names[i]);
            CHECK(strcmp(before_names[i], SIX[node]) == 0);
            second_names[i][0] = (char)('0' + replicas[1]);
        }
        for (i = 0; i < 6; i++) {
            CHECK(used[i] > 30); /* every node takes a share */
        }
        /* Marking m2 down moves only its keys, each to its second replica. */
        CHECK_OK(ringroute_mark_down(router, BYTES("m2")));
        for (i = 0; i < 600; i++) {
            char key[32], now[16];
            snprintf(key, sizeof key, "algo:%d", i);
            route_to(router, key, now, sizeof now);
            if (strcmp(before_names[i], "m2") == 0) {
                CHECK(now[1] == second_names[i][0]);
                moved++;
            } else {
                CHECK(strcmp(now, before_names[i]) == 0);
            }
        }
        CHECK(moved == used[2]);
        ringroute_router_free(router);
    }

    /* Jump is unweighted (a valid weight other than 1 is an unsupported
     * argument, not an invalid weight); Maglev needs a prime table larger
     * than the node count. */
    CHECK_OK(ringroute_config_default(&config));
    config.algorithm = RINGROUTE_ALGORITHM_JUMP;
    CHECK_STATUS(ringroute_router_new_from_text(&config, "a\nb 2\n", &none),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_router_new_from_text(&config, "a\nb 0\n", &none),
                 RINGROUTE_INVALID_WEIGHT);
    config.algorithm = RINGROUTE_ALGORITHM_MAGLEV;
    config.maglev_table_size = 100;
    CHECK_STATUS(ringroute_router_new_from_text(&config, "a\nb\n", &none),
                 RINGROUTE_INVALID_ARGUMENT);
    config.maglev_table_size = 251;
    CHECK_OK(ringroute_router_new_from_text(&config, "a\nb 2\n", &none));
    ringroute_router_free(none);
}

void test_keyless_picks(void) {
    static const char *const FOUR[] = {"p0", "p1", "p2", "p3"};
    ringroute_config config;
    ringroute_router *router, *none = NULL;
    ringroute_ticket *ticket = NULL;
    ringroute_node_info info;
    uint32_t node = 77;
    int i, seen[4] = {0, 0, 0, 0};

    /* Round robin: each up node in turn. */
    CHECK_OK(ringroute_config_default(&config));
    config.picker = RINGROUTE_PICKER_ROUND_ROBIN;
    router = router_of(FOUR, 4, &config);
    CHECK_OK(ringroute_mark_down(router, BYTES("p1")));
    for (i = 0; i < 30; i++) {
        CHECK_OK(ringroute_pick(router, &node, &ticket));
        CHECK(node < 4 && node != 1);
        seen[node < 4 ? node : 1]++;
        CHECK_OK(ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 100));
    }
    CHECK(seen[0] == 10 && seen[1] == 0 && seen[2] == 10 && seen[3] == 10);
    ringroute_router_free(router);

    /* Least connections (the default) avoids a node with requests piled up. */
    router = router_of(FOUR, 4, NULL);
    {
        ringroute_ticket *held[40];
        for (i = 0; i < 40; i++) {
            CHECK_OK(ringroute_start(router, 3, &held[i]));
        }
        for (i = 0; i < 200; i++) {
            CHECK_OK(ringroute_pick(router, &node, &ticket));
            CHECK(node != 3);
            ringroute_ticket_free(ticket);
        }
        for (i = 0; i < 40; i++) {
            CHECK_OK(ringroute_ticket_finish(held[i], RINGROUTE_OUTCOME_SUCCESS, 100));
        }
    }
    CHECK_OK(ringroute_get_node_info(router, BYTES("p3"), &info));
    CHECK(info.in_flight == 0 && info.successes == 40);
    for (i = 0; i < 4; i++) {
        CHECK_OK(ringroute_mark_down(router, BYTES(FOUR[i])));
    }
    node = 77;
    ticket = NULL;
    CHECK_STATUS(ringroute_pick(router, &node, &ticket), RINGROUTE_NO_NODE_UP);
    CHECK(node == 77 && ticket == NULL);
    CHECK_STATUS(ringroute_pick(NULL, &node, &ticket), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_pick(router, NULL, &ticket), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_pick(router, &node, NULL), RINGROUTE_NULL_POINTER);
    ringroute_router_free(router);

    CHECK_OK(ringroute_router_new(NULL, NULL, 0, &none));
    CHECK_STATUS(ringroute_pick(none, &node, &ticket), RINGROUTE_EMPTY_RING);
    ringroute_router_free(none);
    none = NULL;

    /* Every picker builds and picks; bad picker settings are refused. */
    for (i = 0; i <= 4; i++) {
        CHECK_OK(ringroute_config_default(&config));
        config.picker = (ringroute_picker)i;
        router = router_of(FOUR, 4, &config);
        CHECK_OK(ringroute_pick(router, &node, &ticket));
        CHECK_OK(ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 250));
        ringroute_router_free(router);
    }
    config.picker = 5;
    CHECK_STATUS(ringroute_router_new_from_text(&config, "a\n", &none), RINGROUTE_INVALID_ARGUMENT);
    config.picker = RINGROUTE_PICKER_LEAST_RESPONSE_TIME;
    config.picker_decay_ms = 0;
    CHECK_STATUS(ringroute_router_new_from_text(&config, "a\n", &none), RINGROUTE_INVALID_ARGUMENT);
    CHECK(none == NULL);
}

/* ------------------------------------------------------------ threads */

#define READERS 4
#define STABLE 8

/* RINGROUTE_TEST_QUICK=1 (for valgrind, which runs one thread at a time)
 * makes the thread test five times shorter. */
static int quick(void) {
    const char *q = getenv("RINGROUTE_TEST_QUICK");
    return q != NULL && strcmp(q, "1") == 0;
}

/* Set once the writer is done; readers keep routing until then. */
static pthread_mutex_t writer_lock = PTHREAD_MUTEX_INITIALIZER;
static int writer_done = 0;

static int is_writer_done(void) {
    int done;
    pthread_mutex_lock(&writer_lock);
    done = writer_done;
    pthread_mutex_unlock(&writer_lock);
    return done;
}

typedef struct reader_state {
    const ringroute_router *router;
    int iterations;
    int id;
    long routed;
    long errors;
} reader_state;

static void *reader(void *arg) {
    reader_state *st = (reader_state *)arg;
    int i;
    for (i = 0; i < st->iterations || (i % 256 != 0 || !is_writer_done()); i++) {
        char key[32];
        uint8_t name[32];
        size_t len = sizeof name, count = 0;
        uint32_t node = UINT32_MAX, replicas[3];
        ringroute_ticket *ticket = NULL;
        snprintf(key, sizeof key, "t%d:%d", st->id, i % 997);
        /* At most one of the stable nodes is ever down: routing never fails. */
        if (ringroute_route(st->router, BYTES(key), &node) != RINGROUTE_OK) {
            st->errors++;
        }
        if (ringroute_route_name(st->router, BYTES(key), &node, name, &len) != RINGROUTE_OK ||
            len < 2 || (name[0] != 's' && name[0] != 'c')) {
            st->errors++;
        }
        if (ringroute_route_n(st->router, BYTES(key), replicas, 3, &count) != RINGROUTE_OK ||
            count < 3 || replicas[0] == replicas[1] || replicas[1] == replicas[2]) {
            st->errors++;
        }
        if (i % 8 == 0) {
            if (ringroute_lease(st->router, BYTES(key), &node, &ticket) != RINGROUTE_OK ||
                ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 50) != RINGROUTE_OK) {
                st->errors++;
            }
        }
        st->routed++;
    }
    return NULL;
}

typedef struct writer_state {
    const ringroute_router *router;
    int rounds;
    long errors;
} writer_state;

static void *writer(void *arg) {
    writer_state *st = (writer_state *)arg;
    int i;
    for (i = 0; i < st->rounds; i++) {
        char churn[32], victim[8], other[8];
        snprintf(churn, sizeof churn, "churn-%d", i);
        snprintf(victim, sizeof victim, "s%d", i % STABLE);
        snprintf(other, sizeof other, "s%d", (i + 3) % STABLE);
        st->errors += ringroute_add(st->router, BYTES(churn), 1.0 + (i % 3), NULL) != RINGROUTE_OK;
        st->errors += ringroute_mark_down(st->router, BYTES(victim)) != RINGROUTE_OK;
        st->errors += ringroute_set_weight(st->router, BYTES(other), 2.5) != RINGROUTE_OK;
        st->errors += ringroute_tick(st->router) != RINGROUTE_OK;
        st->errors += ringroute_mark_up(st->router, BYTES(victim)) != RINGROUTE_OK;
        st->errors += ringroute_remove(st->router, BYTES(churn)) != RINGROUTE_OK;
        st->errors += ringroute_set_weight(st->router, BYTES(other), 1.0) != RINGROUTE_OK;
    }
    pthread_mutex_lock(&writer_lock);
    writer_done = 1;
    pthread_mutex_unlock(&writer_lock);
    return NULL;
}

void test_threads_route_while_membership_changes(void) {
    static const char *const NODES[STABLE] = {"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"};
    ringroute_router *router = router_of(NODES, STABLE, NULL);
    ringroute_router *fresh = router_of(NODES, STABLE, NULL);
    pthread_t readers[READERS], writer_thread;
    reader_state rs[READERS];
    writer_state ws;
    int i, rounds = quick() ? 100 : 500, iterations = quick() ? 4000 : 20000;
    long routed = 0, errors = 0;

    ws.router = router;
    ws.rounds = rounds;
    ws.errors = 0;
    for (i = 0; i < READERS; i++) {
        rs[i].router = router;
        rs[i].iterations = iterations;
        rs[i].id = i;
        rs[i].routed = 0;
        rs[i].errors = 0;
        CHECK(pthread_create(&readers[i], NULL, reader, &rs[i]) == 0);
    }
    CHECK(pthread_create(&writer_thread, NULL, writer, &ws) == 0);
    for (i = 0; i < READERS; i++) {
        CHECK(pthread_join(readers[i], NULL) == 0);
        routed += rs[i].routed;
        errors += rs[i].errors;
    }
    CHECK(pthread_join(writer_thread, NULL) == 0);
    CHECK(errors == 0);
    CHECK(ws.errors == 0);
    CHECK(routed >= (long)READERS * iterations);
    /* Afterwards the router places keys exactly as a fresh one. */
    for (i = 0; i < 1000; i++) {
        char key[32], a[16], b[16];
        snprintf(key, sizeof key, "after:%d", i);
        route_to(router, key, a, sizeof a);
        route_to(fresh, key, b, sizeof b);
        CHECK(strcmp(a, b) == 0);
    }
    printf("     threads: %d readers routed %ld keys (x3 calls) while a writer made %d changes\n",
           READERS, routed, ws.rounds * 7);
    ringroute_router_free(router);
    ringroute_router_free(fresh);
}

/* ------------------------------------------------ reader handles */

void test_reader_routes_as_the_router(void) {
    ringroute_router *router = router_of(THREE, 3, NULL);
    ringroute_reader *reader = NULL, *second = NULL;
    uint32_t via_router = 0, via_reader = 99, down = 0, node = 0;
    uint64_t hash = 0;
    char key[32];
    int i;

    CHECK_STATUS(ringroute_reader_new(NULL, &reader), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_reader_new(router, NULL), RINGROUTE_NULL_POINTER);
    CHECK(reader == NULL);
    CHECK_OK(ringroute_reader_new(router, &reader));
    CHECK_OK(ringroute_reader_new(router, &second));
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        CHECK_OK(ringroute_route(router, BYTES(key), &via_router));
        CHECK_OK(ringroute_reader_route(reader, BYTES(key), &via_reader));
        CHECK(via_reader == via_router);
        CHECK_OK(ringroute_key_hash(BYTES(key), &hash));
        CHECK_OK(ringroute_reader_route_hash(second, hash, &node));
        CHECK(node == via_router);
    }
    /* A change is seen on the reader's next call. */
    CHECK_OK(ringroute_mark_down(router, BYTES("beta")));
    CHECK_OK(ringroute_node_index(router, BYTES("beta"), &down));
    for (i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        CHECK_OK(ringroute_reader_route(reader, BYTES(key), &via_reader));
        CHECK(via_reader != down);
    }
    /* Bad arguments: a status and a message, nothing written. */
    via_reader = 77;
    CHECK_STATUS(ringroute_reader_route(NULL, BYTES("k"), &via_reader), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_reader_route(reader, NULL, 3, &via_reader), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_reader_route(reader, BYTES("k"), NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_reader_route_hash(reader, 1, NULL), RINGROUTE_NULL_POINTER);
    CHECK(via_reader == 77);
    CHECK(strstr(ringroute_last_error(), "node_out") != NULL);
    /* No node up: the router's error. */
    CHECK_OK(ringroute_mark_down(router, BYTES("alpha")));
    CHECK_OK(ringroute_mark_down(router, BYTES("gamma")));
    CHECK_STATUS(ringroute_reader_route(reader, BYTES("k"), &via_reader), RINGROUTE_NO_NODE_UP);
    /* The reader keeps the router alive: free them in either order. */
    ringroute_router_free(router);
    CHECK_STATUS(ringroute_reader_route(second, BYTES("k"), &via_reader), RINGROUTE_NO_NODE_UP);
    ringroute_reader_free(reader);
    ringroute_reader_free(second);
    ringroute_reader_free(NULL);
}
