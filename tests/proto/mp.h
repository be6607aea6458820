/* mp.h - build msgpack bytes from a compact text form, for proto tests.
 *
 *   mp("{v:1, type:'job', n:[1,-2,true,false,nil], 7:'int key'}", &len)
 *
 * Maps {k:v,...} (bare-word or quoted keys; any value may be a key), arrays
 * [..], 'strings' (\' and \\ escapes), integers (decimal, may exceed
 * INT64_MAX as uint64), floats (with a '.'), true, false, nil.  Aborts on a syntax error: the
 * text is part of the test.  Returns a malloc'd buffer. */
#ifndef VMSEAL_TEST_MP_H
#define VMSEAL_TEST_MP_H

#include <stddef.h>

char *mp(const char *text, size_t *ret_len);

#endif
