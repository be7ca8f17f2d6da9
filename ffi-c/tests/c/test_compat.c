/*
 * C99 tests of the compatibility modes through the opaque ringroute_compat
 * configuration: a C program routes like libmemcached without libmemcached
 * (keys of libmemcached's test/fixtures/ketama.hpp), setters refuse what
 * does not apply, and nothing leaks. Part of test_ringroute.
 */
#include <stdint.h>
#include <string.h>

#include "common.h"

static const char *const POOL[8] = {
    "10.0.1.1:11211", "10.0.1.2:11211", "10.0.1.3:11211", "10.0.1.4:11211",
    "10.0.1.5:11211", "10.0.1.6:11211", "10.0.1.7:11211", "10.0.1.8:11211",
};
static const double WEIGHTS[8] = {600, 300, 200, 350, 1000, 800, 950, 100};

static ringroute_router *pool_router(const ringroute_compat *compat) {
    ringroute_node nodes[8];
    ringroute_router *router = NULL;
    for (size_t i = 0; i < 8; i++) {
        nodes[i].name = (const uint8_t *)POOL[i];
        nodes[i].name_len = strlen(POOL[i]);
        nodes[i].weight = WEIGHTS[i];
    }
    CHECK_OK(ringroute_router_new_compat(NULL, compat, nodes, 8, &router));
    return router;
}

void test_compat_routes_like_libmemcached(void) {
    /* test/fixtures/ketama.hpp: key, server, spymemcached server. */
    static const char *const cases[][3] = {
        {"SVa_]_V41)", "10.0.1.7:11211", "10.0.1.2:11211"},
        {"*/Z;?V(.\\8", "10.0.1.1:11211", "10.0.1.4:11211"},
        {"30C1*Z*S/_", "10.0.1.2:11211", "10.0.1.2:11211"},
        {"ERR:EC58G>", "10.0.1.7:11211", "10.0.1.7:11211"},
        {"1I=cTMNTKF", "10.0.1.5:11211", "10.0.1.4:11211"},
    };
    ringroute_compat *compat = NULL;
    char name[64];
    CHECK_OK(ringroute_compat_new("libmemcached", &compat));
    ringroute_router *router = pool_router(compat);
    CHECK_OK(ringroute_compat_set_ketama(compat, 1, 1));
    ringroute_router *spy = pool_router(compat);
    ringroute_compat_free(compat); /* the routers do not need it */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        route_to(router, cases[i][0], name, sizeof name);
        CHECK(strcmp(name, cases[i][1]) == 0);
        route_to(spy, cases[i][0], name, sizeof name);
        CHECK(strcmp(name, cases[i][2]) == 0);
    }
    /* Replicas take the next server index, as libmemcached's do. */
    uint32_t nodes[3] = {0, 0, 0};
    size_t count = 0;
    CHECK_OK(ringroute_route_n(router, BYTES("SVa_]_V41)"), nodes, 3, &count));
    CHECK(count == 3 && nodes[0] == 6 && nodes[1] == 7 && nodes[2] == 0);
    /* A server down: the continuum is rebuilt over the others. */
    CHECK_OK(ringroute_mark_down(router, BYTES("10.0.1.7:11211")));
    route_to(router, "SVa_]_V41)", name, sizeof name);
    CHECK(strcmp(name, "10.0.1.7:11211") != 0 && name[0] != '\0');
    ringroute_router_free(router);
    ringroute_router_free(spy);
}

void test_compat_settings_and_errors(void) {
    ringroute_compat *compat = NULL, *none = NULL;
    ringroute_router *router = NULL;
    ringroute_node half = {(const uint8_t *)"a:1", 3, 1.5};
    CHECK_STATUS(ringroute_compat_new("memcache", &none), RINGROUTE_INVALID_ARGUMENT);
    CHECK(none == NULL);
    CHECK_STATUS(ringroute_compat_new(NULL, &none), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_compat_new("nginx", NULL), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_compat_set_hash(NULL, "md5"), RINGROUTE_NULL_POINTER);
    CHECK_STATUS(ringroute_router_new_compat(NULL, NULL, NULL, 0, &router), RINGROUTE_NULL_POINTER);

    CHECK_OK(ringroute_compat_new("twemproxy", &compat));
    CHECK_OK(ringroute_compat_set_hash(compat, "md5"));
    CHECK_STATUS(ringroute_compat_set_hash(compat, "sha1"), RINGROUTE_INVALID_ARGUMENT);
    CHECK_OK(ringroute_compat_set_hash_tag(compat, "{}"));
    CHECK_STATUS(ringroute_compat_set_hash_tag(compat, "{"), RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_compat_set_table_size(compat, 7), RINGROUTE_INVALID_ARGUMENT);
    CHECK_STATUS(ringroute_router_new_compat(NULL, compat, &half, 1, &router),
                 RINGROUTE_INVALID_WEIGHT);
    CHECK(router == NULL);
    {
        /* hash_tag: keys with the same tag go to the same server. */
        static const char *const names[3] = {"alpha@127.0.0.1:1", "beta@127.0.0.1:2", "127.0.0.1:3"};
        ringroute_node nodes[3];
        char a[64], b[64];
        for (size_t i = 0; i < 3; i++) {
            nodes[i].name = (const uint8_t *)names[i];
            nodes[i].name_len = strlen(names[i]);
            nodes[i].weight = 1;
        }
        CHECK_OK(ringroute_router_new_compat(NULL, compat, nodes, 3, &router));
        route_to(router, "cart:{user42}", a, sizeof a);
        route_to(router, "{user42}", b, sizeof b);
        CHECK(strcmp(a, b) == 0 && a[0] != '\0');
        ringroute_router_free(router);
    }
    ringroute_compat_free(compat);

    CHECK_OK(ringroute_compat_new("envoy-maglev", &compat));
    CHECK_STATUS(ringroute_compat_set_table_size(compat, 8), RINGROUTE_INVALID_ARGUMENT);
    CHECK_OK(ringroute_compat_set_table_size(compat, 251));
    CHECK_STATUS(ringroute_compat_set_hash(compat, "md5"), RINGROUTE_INVALID_ARGUMENT);
    ringroute_compat_free(compat);

    CHECK_OK(ringroute_compat_new("grpc-ring-hash", &compat));
    CHECK_STATUS(ringroute_compat_set_ring_size(compat, 10, 5), RINGROUTE_INVALID_ARGUMENT);
    CHECK_OK(ringroute_compat_set_ring_size(compat, 64, 512));
    ringroute_compat_free(compat);

    CHECK_OK(ringroute_compat_new("uhashring", &compat));
    CHECK_STATUS(ringroute_compat_set_uhashring(compat, 1, 40, 5), RINGROUTE_INVALID_ARGUMENT);
    CHECK_OK(ringroute_compat_set_uhashring(compat, 1, 0, 0));
    ringroute_compat_free(compat);
    ringroute_compat_free(NULL);
}
