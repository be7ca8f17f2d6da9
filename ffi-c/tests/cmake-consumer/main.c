/* Built by ffi-c/tests/cmake-consumer/CMakeLists.txt against an installed
 * ringroute: the header's version macros match the library it linked, and a
 * router routes a key to one of its nodes. Exit status 0 on success. */
#include <stdio.h>
#include <string.h>

#include <ringroute.h>

#define STR2(x) #x
#define STR(x) STR2(x)

static int passed = 0;
static int failures = 0;

static void expect(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok) {
        passed++;
    } else {
        failures++;
    }
}

int main(void) {
    const char *header_version = STR(RINGROUTE_VERSION_MAJOR) "." STR(
        RINGROUTE_VERSION_MINOR) "." STR(RINGROUTE_VERSION_PATCH);
    expect(strcmp(ringroute_version(), header_version) == 0,
           "ringroute_version() matches RINGROUTE_VERSION_MAJOR/MINOR/PATCH");
    expect(strcmp(ringroute_version(), EXPECTED_VERSION) == 0,
           "ringroute_version() matches the CMake package version");
    expect(ringroute_spec_version() == RINGROUTE_SPEC_VERSION,
           "ringroute_spec_version() matches RINGROUTE_SPEC_VERSION");

    const char *names[] = {"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"};
    struct ringroute_node nodes[3];
    for (int i = 0; i < 3; i++) {
        nodes[i].name = (const uint8_t *)names[i];
        nodes[i].name_len = strlen(names[i]);
        nodes[i].weight = 1.0;
    }
    struct ringroute_router *router = NULL;
    enum ringroute_status status = ringroute_router_new(NULL, nodes, 3, &router);
    expect(status == RINGROUTE_OK && router != NULL, "ringroute_router_new");
    if (router != NULL) {
        uint32_t node = UINT32_MAX;
        const char *key = "user:42";
        status = ringroute_route(router, (const uint8_t *)key, strlen(key), &node);
        expect(status == RINGROUTE_OK && node < 3, "ringroute_route gives one of the 3 nodes");
        ringroute_router_free(router);
    }
    printf("%d passed, %d failed\n", passed, failures);
    return failures == 0 ? 0 : 1;
}
