/* Placeholder: YAML loading (being written). */
#include <stdio.h>

#include "core/config.h"

hr_config *hr_config_load(const char *path, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: YAML config loading is not built yet", path);
    return NULL;
}

hr_config *hr_config_parse(const char *yaml, size_t len, const char *name, char *err, size_t errlen) {
    snprintf(err, errlen, "%s: YAML config loading is not built yet", name);
    return NULL;
}
