/*
 * A tiny test harness for the C and C++ tests of libringroute: named tests,
 * checks that report file:line, and a closing line "N passed, M failed"
 * (counting tests) alone on its line. Valid C99 and C++.
 */
#ifndef RINGROUTE_TEST_HARNESS_H
#define RINGROUTE_TEST_HARNESS_H

#include <stdio.h>
#include <string.h>

#include <ringroute.h>

/* The counters live in the one file that defines HARNESS_MAIN before
 * including this header (the one with main()); the others share them. */
#ifdef HARNESS_MAIN
int harness_tests_passed = 0;
int harness_tests_failed = 0;
int harness_checks_failed = 0;
#else
extern int harness_tests_passed;
extern int harness_tests_failed;
extern int harness_checks_failed;
#endif

/* Checks a condition; on failure prints where and what, and the test fails. */
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            harness_checks_failed++;                                                  \
            fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

/* Checks that a call returns the status expected, printing both by name and
 * the library's last error message when they differ. */
#define CHECK_STATUS(call, want)                                                       \
    do {                                                                               \
        ringroute_status harness_got = (call);                                         \
        ringroute_status harness_want = (want);                                        \
        if (harness_got != harness_want) {                                             \
            harness_checks_failed++;                                                   \
            fprintf(stderr, "  %s:%d: %s returned %s, expected %s (last error: %s)\n", \
                    __FILE__, __LINE__, #call, ringroute_status_name((int32_t)harness_got), \
                    ringroute_status_name((int32_t)harness_want), ringroute_last_error()); \
        }                                                                              \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, RINGROUTE_OK)

/* Runs one test function and records whether all of its checks held. */
#define RUN_TEST(fn)                                                 \
    do {                                                             \
        int harness_before = harness_checks_failed;                  \
        fn();                                                        \
        if (harness_checks_failed == harness_before) {               \
            harness_tests_passed++;                                  \
            printf("ok   %s\n", #fn);                                \
        } else {                                                     \
            harness_tests_failed++;                                  \
            printf("FAIL %s (%d checks failed)\n", #fn,              \
                   harness_checks_failed - harness_before);          \
        }                                                            \
        fflush(stdout);                                              \
    } while (0)

#ifdef HARNESS_MAIN
/* Prints the closing line; returns the process exit status. */
static int harness_finish(void) {
    printf("%d passed, %d failed\n", harness_tests_passed, harness_tests_failed);
    return harness_tests_failed == 0 ? 0 : 1;
}
#endif

/* A byte string from a C string literal, for the (ptr, len) arguments. */
#define BYTES(s) (const uint8_t *)(s), strlen(s)

#endif
