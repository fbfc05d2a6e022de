/* Internal to src/hermes: helpers shared between its files. Not public. */
#ifndef HR_HERMES_INT_H
#define HR_HERMES_INT_H

#include "hermes/hermes.h"

/* The tool-use system turn for tools (an array), template bytes. */
void hr_hermes__tools_header(const cJSON *tools, hr_buf *out);
/* A message's content as text: string, parts (text parts joined by "\n"),
 * null/absent -> "". -1 when content has another shape. */
int hr_hermes__content_text(const cJSON *content, hr_buf *out);
/* The function object of a tool entry ({type, function:{...}} or bare). */
const cJSON *hr_hermes__tool_function(const cJSON *tool);
/* The function object named name in tools, or NULL. */
const cJSON *hr_hermes__tool_find(const cJSON *tools, const char *name);

#endif
