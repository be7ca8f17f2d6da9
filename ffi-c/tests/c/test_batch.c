/*
 * C99 tests of the batch calls: ringroute_route_many (same answers as
 * ringroute_route), ringroute_group (the documented layout: owners, nodes,
 * offsets, positions), ringroute_apply (all or nothing, one publication),
 * and their errors. Part of test_ringroute.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "common.h"

#define BATCH_KEYS 1000
static char batch_text[BATCH_KEYS][16];
static ringroute_key batch_keys[BATCH_KEYS];

static void make_keys(void) {
    int i;
    for (i = 0; i < BATCH_KEYS; i++) {
        snprintf(batch_text[i], sizeof batch_text[i], "key:%d", i);
        batch_keys[i].data = (const uint8_t *)batch_text[i];
        batch_keys[i].len = strlen(batch_text[i]);
    }
}

static const char *const TEN[] = {"n0", "n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"};

void test_route_many_matches_route(void) {
    ringroute_router *router = router_of(TEN, 10, NULL);
    uint32_t *nodes = malloc(BATCH_KEYS * sizeof *nodes);
    int i, pass;
    make_keys();
    for (pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            CHECK_OK(ringroute_mark_down(router, BYTES("n3")));
        }
        CHECK_OK(ringroute_route_many(router, batch_keys, BATCH_KEYS, nodes));
        for (i = 0; i < BATCH_KEYS; i++) {
            uint32_t one = 77;
            CHECK_OK(ringroute_route(router, batch_keys[i].data, batch_keys[i].len, &one));
            CHECK(nodes[i] == one);
            CHECK(pass == 0 || nodes[i] != 3);
        }
    }
    /* No node up: every key gets RINGROUTE_NO_NODE, and that is no error. */
    for (i = 0; i < 10; i++) {
        CHECK_OK(ringroute_mark_down(router, BYTES(TEN[i])));
    }
    CHECK_OK(ringroute_route_many(router, batch_keys, 5, nodes));
    for (i = 0; i < 5; i++) {
        CHECK(nodes[i] == RINGROUTE_NO_NODE);
    }
    /* Zero keys: nothing to do, NULL arrays allowed. */
    CHECK_OK(ringroute_route_many(router, NULL, 0, NULL));
    free(nodes);
    ringroute_router_free(router);
}

void test_group_layout(void) {
    ringroute_router *router = router_of(TEN, 10, NULL);
    uint32_t *owners = malloc(BATCH_KEYS * sizeof *owners);
    uint32_t *nodes = malloc(BATCH_KEYS * sizeof *nodes);
    uint32_t *offsets = malloc((BATCH_KEYS + 1) * sizeof *offsets);
    uint32_t *positions = malloc(BATCH_KEYS * sizeof *positions);
    unsigned char *seen = calloc(BATCH_KEYS, 1);
    ringroute_groups groups;
    size_t n_groups = 77, g;
    uint32_t k, primary;
    make_keys();
    groups.owners = owners;
    groups.nodes = nodes;
    groups.offsets = offsets;
    groups.positions = positions;
    CHECK_OK(ringroute_mark_down(router, BYTES("n4")));
    for (primary = 0; primary < 2; primary++) {
        int has_down = 0;
        memset(seen, 0, BATCH_KEYS);
        CHECK_OK(ringroute_group(router, batch_keys, BATCH_KEYS, primary, &groups, &n_groups));
        CHECK(n_groups >= 1 && n_groups <= 10);
        CHECK(offsets[0] == 0);
        CHECK(offsets[n_groups] == BATCH_KEYS);
        for (g = 0; g < n_groups; g++) {
            has_down |= nodes[g] == 4;
            for (k = offsets[g]; k < offsets[g + 1]; k++) {
                uint32_t pos = positions[k];
                CHECK(pos < BATCH_KEYS);
                CHECK(!seen[pos]);
                seen[pos] = 1;
                CHECK(owners[pos] == nodes[g]);
                CHECK(k == offsets[g] || positions[k - 1] < pos);
                if (primary == 0) {
                    uint32_t one = 77;
                    CHECK_OK(ringroute_route(router, batch_keys[pos].data, batch_keys[pos].len,
                                             &one));
                    CHECK(one == nodes[g]);
                }
            }
        }
        CHECK(has_down == (int)primary);
    }
    /* Bad arguments change nothing. */
    n_groups = 77;
    CHECK_STATUS(ringroute_group(router, batch_keys, 10, 2, &groups, &n_groups),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_group(router, batch_keys, 10, 0, NULL, &n_groups),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_group(router, batch_keys, 10, 0, &groups, NULL),
                 RINGROUTE_NULL_POINTER);
    groups.positions = NULL;
    CHECK_STATUS(ringroute_group(router, batch_keys, 10, 0, &groups, &n_groups),
                 RINGROUTE_NULL_POINTER);
    CHECK(n_groups == 77);
    free(owners);
    free(nodes);
    free(offsets);
    free(positions);
    free(seen);
    ringroute_router_free(router);
}

void test_apply_batch(void) {
    ringroute_router *router = router_of(TEN, 10, NULL);
    uint64_t gen = 0, gen2 = 0;
    size_t count = 0;
    ringroute_health health = RINGROUTE_HEALTH_UP;
    ringroute_change ok[4] = {
        {RINGROUTE_CHANGE_ADD, (const uint8_t *)"n10", 3, 2.0},
        {RINGROUTE_CHANGE_REMOVE, (const uint8_t *)"n0", 2, 0.0},
        {RINGROUTE_CHANGE_SET_WEIGHT, (const uint8_t *)"n1", 2, 3.0},
        {RINGROUTE_CHANGE_MARK_DOWN, (const uint8_t *)"n2", 2, 0.0},
    };
    ringroute_change bad[2] = {
        {RINGROUTE_CHANGE_REMOVE, (const uint8_t *)"n5", 2, 0.0},
        {RINGROUTE_CHANGE_REMOVE, (const uint8_t *)"zz", 2, 0.0},
    };
    ringroute_change unknown_kind = {99, (const uint8_t *)"n5", 2, 0.0};
    ringroute_change null_name = {RINGROUTE_CHANGE_REMOVE, NULL, 2, 0.0};
    ringroute_change bad_weight = {RINGROUTE_CHANGE_ADD, (const uint8_t *)"n11", 3, -1.0};

    CHECK_OK(ringroute_generation(router, &gen));
    CHECK_OK(ringroute_apply(router, ok, 4));
    CHECK_OK(ringroute_generation(router, &gen2));
    CHECK(gen2 == gen + 1); /* one publication */
    CHECK_OK(ringroute_node_count(router, &count, NULL));
    CHECK(count == 10);
    CHECK_OK(ringroute_node_health(router, BYTES("n2"), &health));
    CHECK(health == RINGROUTE_HEALTH_DOWN);

    /* All or nothing. */
    CHECK_STATUS(ringroute_apply(router, bad, 2), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_apply(router, &unknown_kind, 1), RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_apply(router, &null_name, 1), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_apply(router, &bad_weight, 1), RINGROUTE_INVALID_WEIGHT);
    CHECK_STATUS(ringroute_apply(router, NULL, 1), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_apply(NULL, ok, 1), RINGROUTE_NULL_POINTER);
    CHECK_OK(ringroute_generation(router, &gen));
    CHECK(gen == gen2);
    CHECK_OK(ringroute_node_count(router, &count, NULL));
    CHECK(count == 10);
    CHECK_OK(ringroute_apply(router, NULL, 0));
    ringroute_router_free(router);
}

void test_batch_errors(void) {
    ringroute_router *router = router_of(TEN, 10, NULL);
    uint32_t nodes[3] = {77, 77, 77};
    ringroute_key keys[3] = {{(const uint8_t *)"a", 1}, {NULL, 4}, {(const uint8_t *)"c", 1}};
    CHECK_STATUS(ringroute_route_many(NULL, keys, 1, nodes), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_many(router, NULL, 1, nodes), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_route_many(router, keys, 1, NULL), RINGROUTE_NULL_POINTER);
    /* A bad key anywhere: nothing is written. */
    CHECK_STATUS(ringroute_route_many(router, keys, 3, nodes), RINGROUTE_NULL_POINTER);
    CHECK(strstr(ringroute_last_error(), "keys[1]") != NULL);
    CHECK(nodes[0] == 77 && nodes[2] == 77);
    /* A length no object can have (over PTRDIFF_MAX): refused, nothing
     * written, its bytes never read. */
    keys[1].data = (const uint8_t *)"b";
    keys[1].len = (size_t)PTRDIFF_MAX + 1;
    CHECK_STATUS(ringroute_route_many(router, keys, 3, nodes), RINGROUTE_INVALID_ARGUMENT);
    CHECK(strstr(ringroute_last_error(), "keys[1]") != NULL);
    CHECK(nodes[0] == 77 && nodes[2] == 77);
    /* A zero-length key may have a NULL pointer. */
    keys[1].data = NULL;
    keys[1].len = 0;
    CHECK_OK(ringroute_route_many(router, keys, 3, nodes));
    CHECK(nodes[1] != RINGROUTE_NO_NODE);
    ringroute_router_free(router);
}
