/* Asks the real libmemcached which server each key goes to, with no
 * network I/O: memcached_generate_hash() over a server list.
 *
 *   libmemcached_route [--weighted|--unweighted] [--spy] [--hash NAME]
 *                      HOST:PORT=WEIGHT... < keys > KEY<TAB>HOST:PORT lines
 *
 * --weighted sets MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (md5 key hash too),
 * --unweighted MEMCACHED_BEHAVIOR_KETAMA alone; --spy the
 * CONSISTENT_KETAMA_SPY distribution; --hash sets MEMCACHED_BEHAVIOR_HASH
 * afterwards. Used by scripts/test-compat. */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hash_named(const char *name, memcached_hash_t *out) {
    static const struct { const char *name; memcached_hash_t hash; } table[] = {
        {"md5", MEMCACHED_HASH_MD5},         {"one_at_a_time", MEMCACHED_HASH_DEFAULT},
        {"crc32", MEMCACHED_HASH_CRC},       {"fnv1_64", MEMCACHED_HASH_FNV1_64},
        {"fnv1a_64", MEMCACHED_HASH_FNV1A_64}, {"fnv1_32", MEMCACHED_HASH_FNV1_32},
        {"fnv1a_32", MEMCACHED_HASH_FNV1A_32}, {"murmur", MEMCACHED_HASH_MURMUR},
        {"jenkins", MEMCACHED_HASH_JENKINS},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        if (strcmp(table[i].name, name) == 0) {
            *out = table[i].hash;
            return 1;
        }
    }
    return 0;
}

static void check(memcached_return_t rc, const char *what) {
    if (rc != MEMCACHED_SUCCESS) {
        fprintf(stderr, "libmemcached_route: %s: %s\n", what, memcached_strerror(NULL, rc));
        exit(2);
    }
}

int main(int argc, char **argv) {
    memcached_st *memc = memcached_create(NULL);
    int weighted = 1, spy = 0;
    const char *hash = NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--weighted") == 0) weighted = 1;
        else if (strcmp(argv[i], "--unweighted") == 0) weighted = 0;
        else if (strcmp(argv[i], "--spy") == 0) spy = 1;
        else if (strcmp(argv[i], "--hash") == 0 && i + 1 < argc) hash = argv[++i];
        else { fprintf(stderr, "libmemcached_route: bad option %s\n", argv[i]); return 2; }
    }
    if (weighted) {
        check(memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1), "ketama weighted");
    } else {
        check(memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA, 1), "ketama");
    }
    if (spy) {
        check(memcached_behavior_set_distribution(memc, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY),
              "spy distribution");
    }
    if (hash) {
        memcached_hash_t h;
        if (!hash_named(hash, &h)) { fprintf(stderr, "libmemcached_route: unknown hash %s\n", hash); return 2; }
        check(memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_HASH, (uint64_t) h), "hash");
    }
    for (; i < argc; i++) {
        char host[256];
        unsigned port = 0, weight = 1;
        const char *colon = strrchr(argv[i], ':');
        if (!colon || (size_t)(colon - argv[i]) >= sizeof host
            || sscanf(colon + 1, "%u=%u", &port, &weight) < 1) {
            fprintf(stderr, "libmemcached_route: bad server %s\n", argv[i]);
            return 2;
        }
        memcpy(host, argv[i], (size_t)(colon - argv[i]));
        host[colon - argv[i]] = '\0';
        check(memcached_server_add_with_weight(memc, host, (in_port_t) port, weight), argv[i]);
    }
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        uint32_t index = memcached_generate_hash(memc, line, len);
        const memcached_instance_st *server = memcached_server_instance_by_position(memc, index);
        printf("%s\t%s:%u\n", line, memcached_server_name(server), (unsigned) memcached_server_port(server));
    }
    memcached_free(memc);
    return 0;
}
