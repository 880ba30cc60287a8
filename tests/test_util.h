/* test_util.h - minimal assertion helpers for asrd's unit tests. Each test program ends with
 * TEST_SUMMARY(), which prints "N passed, N failed" and returns the exit status. */
#ifndef ASR_TEST_UTIL_H
#define ASR_TEST_UTIL_H

#include <stdio.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (cond) {                                                                                          \
            test_passed++;                                                                                   \
        } else {                                                                                             \
            test_failed++;                                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);                         \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
        }                                                                                                    \
    } while (0)

#define TEST_SUMMARY() (printf("%d passed, %d failed\n", test_passed, test_failed), test_failed ? 1 : 0)

#endif
