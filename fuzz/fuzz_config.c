// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fuzz_config.c - libFuzzer target for the config parser (agent/config.c):
 * any input must give 0 or a negative errno with a one-line message, no
 * leak, no UB; on error the output must be all zero.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct lb_conf zero;
	struct lb_conf c;
	char err[256];
	size_t i, j;
	int rc;

	rc = lb_conf_load_buf("fuzz.yaml", (const char *)data, size, &c, err,
			      sizeof(err));
	if (rc) {
		/* Errors leave nothing behind and say something. */
		if (rc > 0 || memcmp(&c, &zero, sizeof(c)) || !err[0] ||
		    strchr(err, '\n'))
			abort();
	} else {
		/* Touch what a caller would use. */
		for (i = 0; i < c.n_vips; i++)
			for (j = 0; j < c.vips[i].n_backends; j++)
				if (!lb_conf_static_weight(&c.vips[i].backends[j]) ||
				    !c.vips[i].backends[j].health_url[0])
					abort();
	}
	lb_conf_free(&c);
	lb_conf_free(&c);
	return 0;
}
