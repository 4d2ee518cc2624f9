/* A guard run before libyaml builds a document: nesting deeper than any
 * fedsim config needs is refused after reading only its first levels. */
#ifndef FEDSIM_YAML_NESTING_H
#define FEDSIM_YAML_NESTING_H

#include <stddef.h>

/* The deepest legitimate config nests 4 collections (sweep: key: [list of
 * method mappings: {name: ...}]); 16 leaves room for any hand-written layout. */
#define FS_YAML_MAX_NESTING 16

/* Reads the YAML events of text (len bytes) and fails with "name:line: ..." at the
 * first collection nested more than FS_YAML_MAX_NESTING deep. Returns 0 when
 * the nesting is fine or the text has a syntax error, which the real load
 * then reports in its own words. */
int fs_yaml_check_nesting(const char *text, size_t len, const char *name);

#endif
