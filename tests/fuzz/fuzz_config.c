/* fuzz_config.c: libFuzzer target for the configuration parser. The input
 * is parsed from memory; whatever it holds, the parse must end in a
 * config or a message, never a crash or a leak. Paths named in the input
 * (password_file, ca_file) are only stat()ed. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*conf;
	char		*cause = NULL;
	FILE		*f;

	conf = config_load_buffer("fuzz.conf", (const char *)data, size,
	    &cause);
	if (conf == NULL) {
		if (cause == NULL)
			abort();	/* an error must say why */
		free(cause);
		return (0);
	}
	/* Printing walks every field the conversion filled. */
	if ((f = fopen("/dev/null", "w")) != NULL) {
		config_print(f, conf);
		fclose(f);
	}
	config_free(conf);
	return (0);
}
