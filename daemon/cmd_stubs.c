/* Commands not built yet. Each owner deletes its entry when it lands. */
#include <stdio.h>

#include "daemon/commands.h"

#define NOT_YET(fn)                                                            \
	int fn(int argc, char **argv)                                          \
	{                                                                      \
		(void)argc;                                                    \
		fprintf(stderr, "cangate %s: not built yet\n", argv[0]);       \
		return 2;                                                      \
	}

