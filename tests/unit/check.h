/* check.h -- the tiny assertion header of the unit tests.
 *
 *     #include "check.h"
 *     TEST(room_limits) { CHECK(valid_room("a", 1)); }
 *     RUN_TESTS(valid)
 *
 * TEST(name) defines a test function and registers it before main runs (a
 * constructor), so a test cannot be written and then forgotten in a list.
 * Checks: CHECK(cond), CHECK_EQ_INT(a, b), CHECK_STR(a, b) and
 * CHECK_CONTAINS(haystack, needle). A failed check prints one line,
 * `file:line: what`, with the values involved, and does not stop its test,
 * so one run shows every broken rule.
 *
 * RUN_TESTS(module) defines main: it runs the tests in the order they appear
 * in the file and ends with exactly one line on stdout,
 * `test_MODULE: P passed, F failed`, counting tests (a test fails when any
 * of its checks fails). The exit status is 1 when any test failed.
 *
 * Single-threaded: tests run one after the other on the main thread. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_TESTS_MAX 512

typedef struct check_test {
    const char *name;
    void (*fn)(void);
    int line; /* the tests run in file order, whatever the constructors do */
} check_test;

static check_test check_tests[CHECK_TESTS_MAX];
static int check_test_count;
static int check_failures; /* failed checks in the test now running */

static inline void check_register(const char *name, void (*fn)(void),
                                  int line)
{
    if (check_test_count == CHECK_TESTS_MAX) {
        fprintf(stderr, "check.h: more than %d tests\n", CHECK_TESTS_MAX);
        exit(2);
    }
    check_tests[check_test_count++] = (check_test){name, fn, line};
}

static inline void check_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: %s\n", file, line, what);
    check_failures++;
}

#define TEST(name)                                                             \
    static void name(void);                                                    \
    __attribute__((constructor)) static void name##_register(void)             \
    {                                                                          \
        check_register(#name, name, __LINE__);                                 \
    }                                                                          \
    static void name(void)

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            check_fail(__FILE__, __LINE__, "CHECK(" #cond ") failed");         \
    } while (0)

/* The failure reports: one line on stderr each, with both values. */
static inline void check_fail_int(const char *file, int line,
                                  const char *a_expr, const char *b_expr,
                                  long long a, long long b)
{
    fprintf(stderr, "%s:%d: CHECK_EQ_INT(%s, %s): %lld != %lld\n", file,
            line, a_expr, b_expr, a, b);
    check_failures++;
}

static inline void check_fail_str(const char *file, int line,
                                  const char *macro, const char *a_expr,
                                  const char *b_expr, const char *a,
                                  const char *b)
{
    fprintf(stderr, "%s:%d: %s(%s, %s): \"%s\" vs \"%s\"\n", file, line,
            macro, a_expr, b_expr, a != NULL ? a : "(null)",
            b != NULL ? b : "(null)");
    check_failures++;
}

#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);        \
        if (check_a_ != check_b_)                                              \
            check_fail_int(__FILE__, __LINE__, #a, #b, check_a_, check_b_);    \
    } while (0)

/* NULL equals only NULL. */
#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                           \
        if (check_a_ == NULL || check_b_ == NULL                               \
                ? check_a_ != check_b_                                         \
                : strcmp(check_a_, check_b_) != 0)                             \
            check_fail_str(__FILE__, __LINE__, "CHECK_STR", #a, #b, check_a_,  \
                           check_b_);                                          \
    } while (0)

/* Whether needle occurs in haystack (false when either is NULL). */
static inline int check_contains(const char *haystack, const char *needle)
{
    return haystack != NULL && needle != NULL &&
           strstr(haystack, needle) != NULL;
}

#define CHECK_CONTAINS(haystack, needle)                                       \
    do {                                                                       \
        const char *check_h_ = (haystack), *check_n_ = (needle);               \
        if (!check_contains(check_h_, check_n_))                               \
            check_fail_str(__FILE__, __LINE__, "CHECK_CONTAINS", #haystack,    \
                           #needle, check_h_, check_n_);                       \
    } while (0)

static inline int check_by_line(const void *a, const void *b)
{
    return ((const check_test *)a)->line - ((const check_test *)b)->line;
}

static inline int check_run(const char *module)
{
    int passed = 0, failed = 0;
    qsort(check_tests, (size_t)check_test_count, sizeof check_tests[0],
          check_by_line);
    for (int i = 0; i < check_test_count; i++) {
        check_failures = 0;
        check_tests[i].fn();
        if (check_failures == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAILED %s\n", check_tests[i].name);
        }
    }
    printf("test_%s: %d passed, %d failed\n", module, passed, failed);
    return failed == 0 ? 0 : 1;
}

#define RUN_TESTS(module)                                                      \
    int main(void)                                                             \
    {                                                                          \
        return check_run(#module);                                             \
    }

#endif
