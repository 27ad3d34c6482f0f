/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cli.h - what lbctl's commands share: the command descriptor (main.c's
 * table lists them; dispatch, parsing and help come from it), the global
 * options, and the few steps every command takes (lock and open the
 * datapath, fail with the library's message, a one-line confirmation).
 *
 * Exit status: 0 success, 1 runtime failure, 2 usage error.
 */
#ifndef LBCTL_CLI_H
#define LBCTL_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "inferlb.h"
#include "lb_dp.h"
#include "opts.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

/* room for a library error message */
#define CLI_MSG_LEN 512

struct cli_cmd {
	const char *object;	/* NULL: a verb of its own ("attach") */
	const char *verb;
	const char *help;
	/* its arguments: rows filling one struct of size bytes, which
	 * starts as *defaults (NULL: zeros; size 0: no arguments) */
	const struct opt_desc *const *tables;
	const void *defaults;
	size_t size;
	/* runs with the filled struct; given: what argv had */
	int (*run)(void *opts, const struct opt_args *given);
	/* the verb `lbctl OBJECT` alone runs ("announce" is "announce status") */
	bool object_default;
};

/* Global options (main.c). */
extern const char *cli_pin_dir;
extern bool cli_pretty;

/* Locks and opens the datapath; prints the error and returns -1. */
int cli_open_dp(struct lb_dp *dp);
/* Closes dp, prints msg; returns EXIT_RUNTIME. */
int cli_fail(struct lb_dp *dp, const char *msg);
/* A command's one-line confirmation: text "fmt % val", JSON {key: val}. */
int cli_report(const char *key, const char *fmt, const char *val);

/* The commands, by object (cmd_*.c). */
extern const struct cli_cmd cmd_attach, cmd_detach, cmd_unload,
	cmd_decap_attach, cmd_decap_detach;
extern const struct cli_cmd cmd_vip_add, cmd_vip_set, cmd_vip_del,
	cmd_vip_list;
extern const struct cli_cmd cmd_backend_add, cmd_backend_del,
	cmd_backend_state, cmd_backend_release, cmd_set_weight;
extern const struct cli_cmd cmd_apply, cmd_show, cmd_stats;
extern const struct cli_cmd cmd_upgrade, cmd_decap_upgrade;
extern const struct cli_cmd cmd_nexthop_refresh;
extern const struct cli_cmd cmd_announce_status, cmd_announce_sync,
	cmd_announce_withdraw, cmd_announce_resume;
extern const struct cli_cmd cmd_register;

/* The "vips" array of vip list and show (cmd_show.c); -1 after printing
 * the error if the maps cannot be read. */
int cli_print_vips(struct lb_dp *dp, bool with_backends);
/* A VIP's policy and admission (vip add/set/list, show). */
void cli_print_admission(const struct lb_vip *v);

#endif /* LBCTL_CLI_H */
