/* A minimal test harness: CHECK records a failure with its place and goes on,
 * RUN runs one test function, and fr_test_end prints the binary's tally on a line
 * that tests/run.sh adds up ("TESTS passed failed") and returns the exit code. */
#ifndef FR_TEST_H
#define FR_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int fr_t_passed, fr_t_failed, fr_t_cur_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fr_t_cur_failed++;                                                                     \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        fr_t_cur_failed = 0;                                                                       \
        fn();                                                                                      \
        if (fr_t_cur_failed) {                                                                     \
            fr_t_failed++;                                                                         \
            printf("not ok  %s\n", #fn);                                                           \
        } else {                                                                                   \
            fr_t_passed++;                                                                         \
            printf("ok      %s\n", #fn);                                                           \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

static inline int fr_test_end(void)
{
    printf("TESTS %d %d\n", fr_t_passed, fr_t_failed);
    return fr_t_failed ? 1 : 0;
}

/* Relative error that stays meaningful near zero. */
static inline double fr_rel_err(double a, double b)
{
    double den = fabs(a) + fabs(b);
    return den < 1e-12 ? 0.0 : fabs(a - b) / den * 2.0;
}

#endif
