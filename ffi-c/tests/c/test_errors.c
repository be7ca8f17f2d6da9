/*
 * C99 tests of libringroute: every documented error status, and that
 * out-parameters stay untouched on failure. Part of test_ringroute.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

void test_null_pointers(void) {
    ringroute_router *router = router_of(THREE, 3, NULL);
    ringroute_router *none = NULL;
    ringroute_ticket *ticket = NULL;
    ringroute_node node_null_name = {NULL, 5, 1.0};
    ringroute_node two[2] = {{(const uint8_t *)"a", 1, 1.0}, {(const uint8_t *)"b", 1, 1.0}};
    uint32_t node = 77, nodes[3] = {77, 77, 77};
    size_t count = 77, len = 16, total = 77;
    uint64_t u64 = 77;
    uint8_t buf[16];
    ringroute_health health = RINGROUTE_HEALTH_UP;
    ringroute_node_info info;
    const ringroute_router *null_router = NULL;

    memset(buf, 0xAB, sizeof buf);
    CHECK_STATUS(ringroute_config_default(NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_router_new(NULL, two, 2, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_router_new(NULL, NULL, 2, &none), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_router_new(NULL, &node_null_name, 1, &none), RINGROUTE_NULL_POINTER);
    CHECK(none == NULL);
    CHECK(strstr(ringroute_last_error(), "must not be NULL") != NULL);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, NULL, &none), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, "a\n", NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_manual_clock_new(0, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_clock_advance(NULL, 1), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_key_hash(BYTES("k"), NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_key_hash(NULL, 1, &u64), RINGROUTE_NULL_POINTER);

    CHECK_STATUS(ringroute_route(null_router, BYTES("k"), &node), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route(router, BYTES("k"), NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route(router, NULL, 3, &node), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_hash(null_router, 1, &node), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_hash(router, 1, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_name(null_router, BYTES("k"), &node, buf, &len),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_name(router, BYTES("k"), &node, buf, NULL),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_name(router, BYTES("k"), &node, NULL, &len),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_name(router, NULL, 1, &node, buf, &len), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_n(null_router, BYTES("k"), nodes, 3, &count),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_n(router, BYTES("k"), NULL, 3, &count), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_n(router, BYTES("k"), nodes, 3, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_n(router, NULL, 2, nodes, 3, &count), RINGROUTE_NULL_POINTER);

    CHECK_STATUS(ringroute_node_health(null_router, BYTES("alpha"), &health),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_health(router, BYTES("alpha"), NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_health(router, NULL, 5, &health), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_get_node_info(null_router, BYTES("alpha"), &info), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_get_node_info(router, BYTES("alpha"), NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_index(null_router, BYTES("alpha"), &node),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_index(router, BYTES("alpha"), NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_name(null_router, 0, buf, &len), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_name(router, 0, buf, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_name(router, 0, NULL, &len), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_count(null_router, &total, &count), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_count(router, NULL, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_generation(null_router, &u64), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_generation(router, NULL), RINGROUTE_NULL_POINTER);

    CHECK_STATUS(ringroute_add(null_router, BYTES("delta"), 1.0, &node), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_add(router, NULL, 5, 1.0, &node), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_remove(null_router, BYTES("alpha")), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_remove(router, NULL, 5), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_set_weight(null_router, BYTES("alpha"), 2.0), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_set_weight(router, NULL, 5, 2.0), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_replace(null_router, two, 2), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_replace(router, NULL, 2), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_replace(router, &node_null_name, 1), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_mark_down(null_router, BYTES("alpha")), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_mark_down(router, NULL, 5), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_mark_up(null_router, BYTES("alpha")), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_mark_up(router, NULL, 5), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_heartbeat(null_router, BYTES("alpha")), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_heartbeat(router, NULL, 5), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_tick(null_router), RINGROUTE_NULL_POINTER);

    CHECK_STATUS(ringroute_lease(null_router, BYTES("k"), &node, &ticket), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_lease(router, BYTES("k"), NULL, &ticket), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_lease(router, BYTES("k"), &node, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_lease(router, NULL, 1, &node, &ticket), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_start(null_router, 0, &ticket), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_start(router, 0, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_ticket_node(NULL, &node), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_ticket_finish(NULL, RINGROUTE_OUTCOME_SUCCESS, 1),
                 RINGROUTE_NULL_POINTER);
    CHECK_OK(ringroute_start(router, 0, &ticket));
    CHECK_STATUS(ringroute_ticket_node(ticket, NULL), RINGROUTE_NULL_POINTER);
    CHECK_OK(ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_ABANDONED, 0));

    /* Out-parameters are written only on success. */
    CHECK(node == 77 && count == 77 && total == 77 && u64 == 77 && len == 16);
    CHECK(nodes[0] == 77 && buf[0] == 0xAB && health == RINGROUTE_HEALTH_UP);

    /* Every _free accepts NULL. */
    ringroute_router_free(NULL);
    ringroute_ticket_free(NULL);
    ringroute_clock_free(NULL);
    ringroute_router_free(router);
}

void test_invalid_weights(void) {
    const double bad[] = {0.0, -1.0, NAN, INFINITY, -INFINITY, -0.0};
    const char *bad_text[] = {"a 1\nb 0\n", "a -1\n", "a nan\n", "a inf\n", "a -inf\n"};
    ringroute_router *router = router_of(THREE, 3, NULL);
    ringroute_router *none = NULL;
    size_t i, total = 0;
    uint64_t gen_before = 0, gen_after = 0;
    uint32_t node = 77;

    CHECK_OK(ringroute_generation(router, &gen_before));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ringroute_node nodes[2] = {{(const uint8_t *)"a", 1, 1.0}, {(const uint8_t *)"b", 1, 1.0}};
        nodes[1].weight = bad[i];
        CHECK_STATUS(ringroute_router_new(NULL, nodes, 2, &none), RINGROUTE_INVALID_WEIGHT);
        CHECK_STATUS(ringroute_add(router, BYTES("delta"), bad[i], &node), RINGROUTE_INVALID_WEIGHT);
        CHECK_STATUS(ringroute_set_weight(router, BYTES("beta"), bad[i]), RINGROUTE_INVALID_WEIGHT);
        CHECK_STATUS(ringroute_replace(router, nodes, 2), RINGROUTE_INVALID_WEIGHT);
    }
    for (i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
        CHECK_STATUS(ringroute_router_new_from_text(NULL, bad_text[i], &none),
                     RINGROUTE_INVALID_WEIGHT);
    }
    CHECK(strstr(ringroute_last_error(), "weight") != NULL);
    /* Refused changes leave the router exactly as it was. */
    CHECK(none == NULL && node == 77);
    CHECK_OK(ringroute_generation(router, &gen_after));
    CHECK(gen_after == gen_before);
    CHECK_OK(ringroute_node_count(router, &total, NULL));
    CHECK(total == 3);
    ringroute_router_free(router);
}

void test_unknown_and_duplicate_nodes(void) {
    ringroute_router *router = router_of(THREE, 3, NULL);
    ringroute_router *none = NULL;
    ringroute_node dup[2] = {{(const uint8_t *)"x", 1, 1.0}, {(const uint8_t *)"x", 1, 2.0}};
    ringroute_ticket *ticket = NULL;
    ringroute_health health;
    ringroute_node_info info;
    uint32_t node = 77;
    uint8_t buf[8];
    size_t len = sizeof buf;

    CHECK_STATUS(ringroute_remove(router, BYTES("zeta")), RINGROUTE_UNKNOWN_NODE);
    CHECK(strstr(ringroute_last_error(), "zeta") != NULL);
    CHECK_STATUS(ringroute_set_weight(router, BYTES("zeta"), 1.0), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_mark_down(router, BYTES("zeta")), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_mark_up(router, BYTES("zeta")), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_heartbeat(router, BYTES("zeta")), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_node_health(router, BYTES("zeta"), &health), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_get_node_info(router, BYTES("zeta"), &info), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_node_index(router, BYTES("zeta"), &node), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_node_name(router, 999, buf, &len), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_start(router, 999, &ticket), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_remove(router, NULL, 0), RINGROUTE_UNKNOWN_NODE);

    CHECK_STATUS(ringroute_router_new(NULL, dup, 2, &none), RINGROUTE_DUPLICATE_NODE);
    CHECK_STATUS(ringroute_add(router, BYTES("alpha"), 1.0, &node), RINGROUTE_DUPLICATE_NODE);
    CHECK(strstr(ringroute_last_error(), "alpha") != NULL);
    CHECK_STATUS(ringroute_replace(router, dup, 2), RINGROUTE_DUPLICATE_NODE);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, "a\nb 2\na\n", &none),
                 RINGROUTE_DUPLICATE_NODE);

    /* An empty name is refused (a name is the node's identity). */
    CHECK_STATUS(ringroute_add(router, NULL, 0, 1.0, &node), RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_add(router, (const uint8_t *)"", 0, 1.0, &node),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK(none == NULL && node == 77 && ticket == NULL && len == sizeof buf);
    ringroute_router_free(router);
}

void test_empty_ring(void) {
    ringroute_router *router = NULL;
    ringroute_ticket *ticket = NULL;
    uint32_t node = 77, nodes[2];
    size_t count = 77, total = 77, up = 77, len;
    uint8_t buf[8];

    CHECK_OK(ringroute_router_new(NULL, NULL, 0, &router));
    CHECK_STATUS(ringroute_route(router, BYTES("k"), &node), RINGROUTE_EMPTY_RING);
    CHECK(strstr(ringroute_last_error(), "no nodes") != NULL);
    CHECK_STATUS(ringroute_route(router, NULL, 0, &node), RINGROUTE_EMPTY_RING);
    CHECK_STATUS(ringroute_route_hash(router, 42, &node), RINGROUTE_EMPTY_RING);
    CHECK_STATUS(ringroute_route_n(router, BYTES("k"), nodes, 2, &count), RINGROUTE_EMPTY_RING);
    len = sizeof buf;
    CHECK_STATUS(ringroute_route_name(router, BYTES("k"), &node, buf, &len), RINGROUTE_EMPTY_RING);
    CHECK_STATUS(ringroute_lease(router, BYTES("k"), &node, &ticket), RINGROUTE_EMPTY_RING);
    CHECK(node == 77 && count == 77 && ticket == NULL);
    CHECK_OK(ringroute_node_count(router, &total, &up));
    CHECK(total == 0 && up == 0);

    CHECK_OK(ringroute_add(router, BYTES("solo"), 1.0, NULL));
    CHECK_OK(ringroute_route(router, BYTES("k"), &node));
    CHECK(node == 0);
    CHECK_OK(ringroute_remove(router, BYTES("solo")));
    CHECK_STATUS(ringroute_route(router, BYTES("k"), &node), RINGROUTE_EMPTY_RING);
    CHECK_OK(ringroute_add(router, BYTES("solo"), 1.0, NULL));
    CHECK_OK(ringroute_replace(router, NULL, 0));
    CHECK_STATUS(ringroute_route(router, BYTES("k"), &node), RINGROUTE_EMPTY_RING);
    ringroute_router_free(router);
}

void test_all_down(void) {
    static const char *const TWO[] = {"a", "b"};
    ringroute_router *router = router_of(TWO, 2, NULL);
    ringroute_ticket *ticket = NULL;
    ringroute_health health = RINGROUTE_HEALTH_UP;
    uint32_t node = 77, nodes[2];
    size_t count = 77, up = 77, len;
    uint8_t buf[8];

    CHECK_OK(ringroute_mark_down(router, BYTES("a")));
    CHECK_OK(ringroute_mark_down(router, BYTES("b")));
    CHECK_OK(ringroute_mark_down(router, BYTES("b"))); /* twice is fine */
    CHECK_STATUS(ringroute_route(router, BYTES("k1"), &node), RINGROUTE_NO_NODE_UP);
    CHECK(strstr(ringroute_last_error(), "no node is up") != NULL);
    CHECK_STATUS(ringroute_route_n(router, BYTES("k1"), nodes, 2, &count), RINGROUTE_NO_NODE_UP);
    len = sizeof buf;
    CHECK_STATUS(ringroute_route_name(router, BYTES("k1"), &node, buf, &len),
                 RINGROUTE_NO_NODE_UP);
    CHECK_STATUS(ringroute_lease(router, BYTES("k1"), &node, &ticket), RINGROUTE_NO_NODE_UP);
    CHECK(node == 77 && count == 77 && ticket == NULL);
    CHECK_OK(ringroute_node_health(router, BYTES("a"), &health));
    CHECK(health == RINGROUTE_HEALTH_DOWN);
    CHECK_OK(ringroute_node_count(router, NULL, &up));
    CHECK(up == 0);
    CHECK_OK(ringroute_mark_up(router, BYTES("b")));
    CHECK_OK(ringroute_route(router, BYTES("k1"), &node));
    CHECK(node == 1);
    ringroute_router_free(router);
}

void test_buffer_too_small(void) {
    ringroute_router *router = router_of(THREE, 3, NULL);
    uint8_t buf[8];
    size_t len;
    uint32_t node = 77;

    /* key-3 -> gamma (5 bytes), per the golden vectors. */
    memset(buf, 0xAB, sizeof buf);
    len = 4;
    CHECK_STATUS(ringroute_route_name(router, BYTES("key-3"), &node, buf, &len),
                 RINGROUTE_BUFFER_TOO_SMALL);
    CHECK(len == 5 && node == 77 && buf[0] == 0xAB);
    CHECK(strstr(ringroute_last_error(), "5 bytes needed") != NULL);
    len = 0; /* a size query: NULL buffer, zero capacity */
    CHECK_STATUS(ringroute_route_name(router, BYTES("key-3"), &node, NULL, &len),
                 RINGROUTE_BUFFER_TOO_SMALL);
    CHECK(len == 5);
    CHECK_OK(ringroute_route_name(router, BYTES("key-3"), &node, buf, &len));
    CHECK(len == 5 && memcmp(buf, "gamma", 5) == 0 && buf[5] == 0xAB); /* no NUL added */
    CHECK(node == 2);

    len = 2;
    CHECK_STATUS(ringroute_node_name(router, 1, buf, &len), RINGROUTE_BUFFER_TOO_SMALL);
    CHECK(len == 4);
    CHECK_OK(ringroute_node_name(router, 1, buf, &len));
    CHECK(len == 4 && memcmp(buf, "beta", 4) == 0);
    ringroute_router_free(router);
}

void test_invalid_arguments(void) {
    ringroute_router *router = router_of(THREE, 3, NULL);
    ringroute_router *none = NULL;
    ringroute_ticket *ticket = NULL;
    ringroute_config config;
    ringroute_node_info info;
    uint32_t nodes[2] = {77, 77};
    size_t count = 77;
    int i;

    CHECK_STATUS(ringroute_route_n(router, BYTES("k"), nodes, 0, &count),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK(count == 77 && nodes[0] == 77);

    for (i = 0; i < 9; i++) {
        CHECK_OK(ringroute_config_default(&config));
        switch (i) {
        case 0: config.algorithm = 99; break;
        case 1: config.vnodes = 0; break;
        case 2: config.vnodes = 65537; break;
        case 3: config.outlier.consecutive_failures = 0; break;
        case 4: config.outlier.max_ejected_share = 1.5; break;
        case 5: config.phi_accrual = 1; config.phi.threshold = NAN; break;
        case 6: config.phi_accrual = 1; config.phi.max_samples = 0; break;
        case 7: config.bounded_loads = 0.5; break;
        default: config.bounded_loads = NAN; break;
        }
        CHECK_STATUS(ringroute_router_new_from_text(&config, "a\nb\n", &none),
                     RINGROUTE_INVALID_ARGUMENT);
    }
    CHECK(none == NULL);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, "a 1 extra\n", &none),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK(strstr(ringroute_last_error(), "line 1") != NULL);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, "a\nb heavy\n", &none),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK(strstr(ringroute_last_error(), "line 2") != NULL);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, "a\n\xff\xfe 1\n", &none),
                 RINGROUTE_INVALID_UTF8);

    /* An unknown outcome still ends (and frees) the ticket, as abandoned. */
    CHECK_OK(ringroute_start(router, 1, &ticket));
    CHECK_STATUS(ringroute_ticket_finish(ticket, 7, 0), RINGROUTE_INVALID_ARGUMENT);
    CHECK_OK(ringroute_get_node_info(router, BYTES("beta"), &info));
    CHECK(info.in_flight == 0 && info.successes == 0 && info.failures == 0);
    ringroute_router_free(router);
}

void test_text_node_list(void) {
    ringroute_router *text = NULL;
    ringroute_router *array = router_of(THREE, 3, NULL);
    uint32_t node = 77;
    int i;
    CHECK_OK(ringroute_router_new_from_text(
        NULL, "# three-equal\nalpha\n  beta 1   # same weight\n\ngamma 1.0\r\n", &text));
    CHECK_OK(ringroute_node_index(text, BYTES("gamma"), &node));
    CHECK(node == 2);
    for (i = 0; i < 500; i++) {
        char key[32], a[32], b[32];
        snprintf(key, sizeof key, "user:%d", i);
        route_to(text, key, a, sizeof a);
        route_to(array, key, b, sizeof b);
        CHECK(strlen(a) > 0 && strcmp(a, b) == 0);
    }
    ringroute_router_free(text);
    ringroute_router_free(array);
}

