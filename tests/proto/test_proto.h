/* test_proto.h - shared between the proto test files. */
#ifndef VMSEAL_TEST_PROTO_H
#define VMSEAL_TEST_PROTO_H

#include <stddef.h>

#include "mp.h"

char *test_hex(const void *buf, size_t len);

void test_malformed(void **state);
void test_truncated_everywhere(void **state);
void test_limits(void **state);
void test_mutations(void **state);

void test_files_builder(void **state);
void test_files_hostile(void **state);
void test_files_bounds(void **state);
void test_files_malformed(void **state);

#endif
