/* Calls ringroute_route() CALLS times through the installed libringroute.so,
 * for instruction counting under callgrind (see scripts/test-instructions):
 *
 *   route_cost route 100000
 *
 * 100 nodes named as in the Rust benches, 65,536 distinct 16-byte keys
 * (splitmix64), visited in storage order. Paths: "route"
 * (ringroute_route), "reader" (ringroute_reader_route on a reader made
 * once), "many" (ringroute_route_many over blocks of 256 keys; CALLS then
 * counts keys), "none" (the loop alone). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringroute.h>

#define NODES 100
#define KEYS 65536
#define BLOCK 256

static uint64_t splitmix(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "route";
    long calls = argc > 2 ? atol(argv[2]) : 1000000;
    static char names[NODES][32];
    ringroute_node nodes[NODES];
    for (int i = 0; i < NODES; i++) {
        int len = snprintf(names[i], sizeof names[i], "10.0.%d.%d:11211", i / 256, i % 256);
        nodes[i].name = (const uint8_t *)names[i];
        nodes[i].name_len = (size_t)len;
        nodes[i].weight = 1.0;
    }
    ringroute_router *router = NULL;
    if (ringroute_router_new(NULL, nodes, NODES, &router) != RINGROUTE_OK) {
        fprintf(stderr, "router: %s\n", ringroute_last_error());
        return 1;
    }
    uint8_t(*keys)[16] = malloc(sizeof(uint8_t[16]) * KEYS);
    uint64_t state = 0x5eed0f4e15ull;
    for (int i = 0; i < KEYS; i++) {
        uint64_t a = splitmix(&state), b = splitmix(&state);
        memcpy(keys[i], &a, 8);
        memcpy(keys[i] + 8, &b, 8);
    }
    ringroute_reader *reader = NULL;
    if (ringroute_reader_new(router, &reader) != RINGROUTE_OK) {
        return 1;
    }
    uint32_t acc = 0;
    if (strcmp(mode, "route") == 0) {
        for (long i = 0; i < calls; i++) {
            uint32_t node = 0;
            if (ringroute_route(router, keys[i % KEYS], 16, &node) != RINGROUTE_OK) {
                return 1;
            }
            acc += node;
        }
    } else if (strcmp(mode, "reader") == 0) {
        for (long i = 0; i < calls; i++) {
            uint32_t node = 0;
            if (ringroute_reader_route(reader, keys[i % KEYS], 16, &node) != RINGROUTE_OK) {
                return 1;
            }
            acc += node;
        }
    } else if (strcmp(mode, "many") == 0) {
        ringroute_key *list = malloc(sizeof(ringroute_key) * KEYS);
        for (int i = 0; i < KEYS; i++) {
            list[i].data = keys[i];
            list[i].len = 16;
        }
        uint32_t out[BLOCK];
        for (long done = 0; done < calls;) {
            long at = done % KEYS, n = calls - done;
            if (n > BLOCK) {
                n = BLOCK;
            }
            if (n > KEYS - at) {
                n = KEYS - at;
            }
            if (ringroute_route_many(router, list + at, (size_t)n, out) != RINGROUTE_OK) {
                return 1;
            }
            for (long j = 0; j < n; j++) {
                acc += out[j];
            }
            done += n;
        }
        free(list);
    } else {
        for (long i = 0; i < calls; i++) {
            acc += keys[i % KEYS][0];
        }
    }
    printf("%u\n", acc);
    ringroute_reader_free(reader);
    free(keys);
    ringroute_router_free(router);
    return 0;
}
