/* libyaml's scanner keeps one pending simple key per open flow collection and
 * rechecks all of them for every token, and the composer then recurses over
 * the whole tree: a few hundred KB of "[[[[..." cost minutes before any error
 * can be reported. Walking the event stream alone and stopping at the first
 * collection too deep keeps the cost of such a file to its first levels. */
#include <stdbool.h>

#include <yaml.h>

#include "sim/io/error.h"
#include "sim/io/yaml_nesting.h"

int fs_yaml_check_nesting(const char *text, size_t len, const char *name)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return fs_fail("%s: out of memory for the YAML parser", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0, rc = 0;
    for (bool end = false; !end;) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) break; /* a syntax error: the load reports it */
        if (event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT) {
            if (++depth > FS_YAML_MAX_NESTING)
                rc = fs_fail("%s:%lu: collections nested more than %d deep (the deepest fedsim "
                             "config nests 4: top level, sweep, a list, a method); see configs/example.yaml",
                             name, (unsigned long)event.start_mark.line + 1, FS_YAML_MAX_NESTING);
        } else if (event.type == YAML_SEQUENCE_END_EVENT || event.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        end = rc != 0 || event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return rc;
}
