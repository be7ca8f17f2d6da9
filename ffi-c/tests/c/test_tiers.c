/*
 * C99 tests of primary and backup tiers through libringroute's API: while
 * every primary is up no key and no pick reaches a backup; with k of n
 * primaries down the share of keys on backups is the policy's spill share;
 * keys that stay on primaries do not move; all come back on recovery.
 * Part of test_ringroute.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

#define TIER_KEYS 10000
static char tier_before[TIER_KEYS][16];

static int is_backup(const char *name) { return name[0] == 'b'; }

/* Whether a share measured over `n` draws is within 5 standard deviations
 * of `want` (squared, so that the test needs no libm). */
static int near_share(double got, double want, int n) {
    double d = got - want;
    return d * d <= 25.0 * want * (1.0 - want) / n + 1e-18;
}

/* Share of TIER_KEYS keys on backups. With `sticky`, `*moved` counts the
 * keys that left a primary other than p0, p1 (the ones marked down) for
 * another primary: keys that stay on primaries must not move. */
static double backup_share(const ringroute_router *router, int sticky, int *moved) {
    char key[32], now[16];
    int i, on_backups = 0;
    *moved = 0;
    for (i = 0; i < TIER_KEYS; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, now, sizeof now);
        if (is_backup(now)) {
            on_backups++;
        } else if (sticky && strcmp(now, tier_before[i]) != 0 &&
                   strcmp(tier_before[i], "p0") != 0 && strcmp(tier_before[i], "p1") != 0) {
            (*moved)++;
        }
    }
    return (double)on_backups / TIER_KEYS;
}

static double picks_on_backups(const ringroute_router *router, int picks) {
    int i, on_backups = 0;
    for (i = 0; i < picks; i++) {
        uint32_t node = 0, tier = 9;
        ringroute_ticket *ticket = NULL;
        CHECK_OK(ringroute_pick(router, &node, &ticket));
        CHECK_OK(ringroute_node_tier(router, node, &tier));
        on_backups += tier == 1;
        CHECK_OK(ringroute_ticket_finish(ticket, RINGROUTE_OUTCOME_SUCCESS, 100));
    }
    return (double)on_backups / picks;
}

void test_tiers_proportional(void) {
    static const char *const NAMES[] = {"p0", "p1", "p2", "p3", "b0", "b1"};
    static const uint32_t TIERS[] = {0, 0, 0, 0, 1, 1};
    ringroute_node nodes[6];
    ringroute_router *router = NULL;
    double share = -1, spill;
    char key[32];
    int i, moved = 0;

    for (i = 0; i < 6; i++) {
        nodes[i].name = (const uint8_t *)NAMES[i];
        nodes[i].name_len = strlen(NAMES[i]);
        nodes[i].weight = 1.0;
    }
    CHECK_OK(ringroute_router_new_tiered(NULL, nodes, TIERS, 6,
                                         RINGROUTE_TIER_POLICY_PROPORTIONAL,
                                         RINGROUTE_DEFAULT_OVERPROVISIONING, &router));
    if (router == NULL) {
        return;
    }
    for (i = 0; i < TIER_KEYS; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, tier_before[i], sizeof tier_before[i]);
        CHECK(!is_backup(tier_before[i]));
    }
    CHECK(picks_on_backups(router, 500) == 0.0);
    CHECK_OK(ringroute_tier_share(router, 1, &share));
    CHECK(share == 0.0);

    /* 2 of 4 down: 1.4 x 0.5 = 0.7 stays, 0.3 spills. */
    CHECK_OK(ringroute_mark_down(router, BYTES("p0")));
    CHECK_OK(ringroute_mark_down(router, BYTES("p1")));
    spill = 1.0 - RINGROUTE_DEFAULT_OVERPROVISIONING * 0.5;
    share = backup_share(router, 1, &moved);
    CHECK(near_share(share, spill, TIER_KEYS));
    /* Keys of p2, p3 that were not spilled stayed. */
    CHECK(moved == 0);
    CHECK_OK(ringroute_tier_share(router, 1, &share));
    CHECK((share - spill) * (share - spill) < 1e-18);
    share = picks_on_backups(router, 4000);
    CHECK(near_share(share, spill, 4000));

    /* Recovery: every key returns. */
    CHECK_OK(ringroute_mark_up(router, BYTES("p0")));
    CHECK_OK(ringroute_mark_up(router, BYTES("p1")));
    for (i = 0; i < TIER_KEYS; i++) {
        char now[16];
        snprintf(key, sizeof key, "key:%d", i);
        route_to(router, key, now, sizeof now);
        CHECK(strcmp(now, tier_before[i]) == 0);
    }

    /* Failover order: the key's tier first, then the next. */
    {
        uint32_t replicas[6], tier = 9;
        size_t count = 0;
        CHECK_OK(ringroute_route_n(router, BYTES("user:42"), replicas, 6, &count));
        CHECK(count == 6);
        for (i = 0; i < (int)count; i++) {
            CHECK_OK(ringroute_node_tier(router, replicas[i], &tier));
            CHECK(tier == (i < 4 ? 0u : 1u));
        }
    }
    ringroute_router_free(router);
}

void test_tiers_strict_text_and_changes(void) {
    ringroute_router *router = NULL;
    uint32_t tier = 9, index = 0;
    double share = -1;
    int moved = 0;

    /* The node-text format: WEIGHT@TIER; its policy is strict. */
    CHECK_OK(ringroute_router_new_from_text(NULL, "p0 1\np1 1\np2 1\nb0 1@1  # backup\n",
                                            &router));
    if (router == NULL) {
        return;
    }
    CHECK_OK(ringroute_node_index(router, BYTES("b0"), &index));
    CHECK_OK(ringroute_node_tier(router, index, &tier));
    CHECK(tier == 1);
    CHECK(backup_share(router, 0, &moved) == 0.0);
    CHECK_OK(ringroute_mark_down(router, BYTES("p0")));
    CHECK_OK(ringroute_mark_down(router, BYTES("p1")));
    CHECK(backup_share(router, 0, &moved) == 0.0);
    CHECK(picks_on_backups(router, 200) == 0.0);
    CHECK_OK(ringroute_mark_down(router, BYTES("p2")));
    CHECK(backup_share(router, 0, &moved) == 1.0);
    CHECK(picks_on_backups(router, 200) == 1.0);
    CHECK_OK(ringroute_tier_share(router, 1, &share));
    CHECK(share == 1.0);

    /* A tier change is a membership change: promoted, b0 serves. */
    CHECK_OK(ringroute_mark_up(router, BYTES("p2")));
    CHECK_OK(ringroute_set_tier(router, BYTES("b0"), 0));
    CHECK_OK(ringroute_node_tier(router, index, &tier));
    CHECK(tier == 0);
    CHECK(backup_share(router, 0, &moved) > 0.2);

    /* Bad input: a clear status, nothing changed. */
    CHECK_STATUS(ringroute_set_tier(router, BYTES("nobody"), 1), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_set_tier(NULL, BYTES("b0"), 1), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_node_tier(router, 99, &tier), RINGROUTE_UNKNOWN_NODE);
    CHECK_STATUS(ringroute_node_tier(router, index, NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_tier_share(router, 0, NULL), RINGROUTE_NULL_POINTER);
    CHECK_OK(ringroute_tier_share(router, 5, &share));
    CHECK(share == 0.0);
    ringroute_router_free(router);
}

void test_tiers_bad_arguments(void) {
    ringroute_node node = {(const uint8_t *)"p0", 2, 1.0};
    ringroute_router *router = NULL;
    uint32_t tier = 1;

    CHECK_STATUS(ringroute_router_new_tiered(NULL, &node, &tier, 1, 7, 1.4, &router),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_router_new_tiered(NULL, &node, &tier, 1,
                                             RINGROUTE_TIER_POLICY_PROPORTIONAL, 0.0, &router),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_router_new_tiered(NULL, &node, &tier, 1,
                                             RINGROUTE_TIER_POLICY_PROPORTIONAL, NAN, &router),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_router_new_tiered(NULL, &node, &tier, 1, 0, 1.4, NULL),
                 RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, "p0 1@x\n", &router),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_router_new_from_text(NULL, "p0 1@-1\n", &router),
                 RINGROUTE_INVALID_ARGUMENT);
    CHECK(router == NULL);
    /* NULL tiers: every node a primary. */
    CHECK_OK(ringroute_router_new_tiered(NULL, &node, NULL, 1, 0, 1.4, &router));
    CHECK_OK(ringroute_node_tier(router, 0, &tier));
    CHECK(tier == 0);
    ringroute_router_free(router);
}
