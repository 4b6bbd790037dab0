/* common/val.c: names of value types. */
#include <string.h>

#include "val.h"

static const char *val_names[] = {
	[VAL_NIL] = "nil", [VAL_TEXT] = "text", [VAL_NUMBER] = "number",
	[VAL_DECIMAL] = "decimal", [VAL_DATETIME] = "datetime", [VAL_BOOL] = "boolean",
};

const char *
val_type_name(enum val_type t)
{
	if ((unsigned)t >= sizeof(val_names) / sizeof(val_names[0]))
		return NULL;
	return val_names[t];
}

int
val_type_parse(const char *name, enum val_type *out)
{
	for (unsigned i = VAL_TEXT; i <= VAL_BOOL; i++) {
		if (strcmp(name, val_names[i]) == 0) {
			*out = (enum val_type)i;
			return 0;
		}
	}
	return -1;
}
