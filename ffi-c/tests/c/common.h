/*
 * Shared by the C test files: the harness, the helpers defined in
 * test_ringroute.c, and the test functions of each file.
 */
#ifndef RINGROUTE_TEST_COMMON_H
#define RINGROUTE_TEST_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <ringroute.h>

#include "harness.h"

/* A router over `names` (weight 1 each); `config` may be NULL. */
ringroute_router *router_of(const char *const *names, size_t n, const ringroute_config *config);
/* Whether node index `node` of `router` is named `want` (`want_len` bytes). */
int name_is(const ringroute_router *router, uint32_t node, const char *want, size_t want_len);
/* The name of the node serving `key`, as a C string in `out` ("" if none). */
void route_to(const ringroute_router *router, const char *key, char *out, size_t cap);

extern const char *const THREE[3]; /* alpha, beta, gamma: the spec's three-equal */

/* test_compat.c */
void test_compat_routes_like_libmemcached(void);
void test_compat_settings_and_errors(void);

/* test_errors.c */
void test_null_pointers(void);
void test_invalid_weights(void);
void test_unknown_and_duplicate_nodes(void);
void test_empty_ring(void);
void test_all_down(void);
void test_buffer_too_small(void);
void test_invalid_arguments(void);
void test_text_node_list(void);

/* test_behavior.c */
void test_membership_moves_few_keys(void);
void test_leases_and_outlier_ejection(void);
void test_phi_accrual_heartbeats(void);
void test_bounded_loads(void);
void test_every_algorithm(void);
void test_keyless_picks(void);
void test_threads_route_while_membership_changes(void);
void test_reader_routes_as_the_router(void);

/* test_tiers.c */
void test_tiers_proportional(void);
void test_tiers_strict_text_and_changes(void);
void test_tiers_bad_arguments(void);
/* test_batch.c */
void test_route_many_matches_route(void);
void test_group_layout(void);
void test_apply_batch(void);
void test_batch_errors(void);

#endif
