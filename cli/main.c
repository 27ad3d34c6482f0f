// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * main.c - lbctl, the operator's command line: OBJECT VERB ARGS, like
 * ip(8) and bpftool(8).
 *
 * Every command is one struct cli_cmd (cmd_*.c, by object) listed in the
 * table below, so `lbctl help` and `lbctl OBJECT help` come from the same
 * data as the dispatch, and each command's arguments from its own tables
 * (opts.h). Arguments are all checked, through opts_parse() and
 * opts_fill(), before a command touches anything; output goes through
 * lb_print, so text and JSON come from the same calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inferlb.h"
#include "lb_print.h"
#include "cli.h"

#define LBCTL_VERSION "0.1.0"

const char *cli_pin_dir = LB_PIN_DIR_DEFAULT;
bool cli_pretty;

/* In the order `lbctl help` lists them. */
static const struct cli_cmd *const cmds[] = {
	&cmd_attach, &cmd_detach, &cmd_unload, &cmd_upgrade,
	&cmd_vip_add, &cmd_vip_set, &cmd_vip_del, &cmd_vip_list,
	&cmd_backend_add, &cmd_backend_del, &cmd_backend_state, &cmd_backend_release, &cmd_set_weight,
	&cmd_apply, &cmd_show, &cmd_stats, &cmd_nexthop_refresh,
	&cmd_announce_status, &cmd_announce_sync, &cmd_announce_withdraw, &cmd_announce_resume,
	&cmd_register,
	&cmd_decap_attach, &cmd_decap_detach, &cmd_decap_upgrade,
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* The word a command is found by: its object, or its verb. */
static const char *cmd_word(const struct cli_cmd *c)
{
	return c->object ? c->object : c->verb;
}

/* "vip add", "attach" */
static const char *cmd_name(const struct cli_cmd *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", c->object ? c->object : "",
		 c->object ? " " : "", c->verb);
	return buf;
}

static void print_cmd_help(const struct cli_cmd *c, bool with_args)
{
	char name[48], prefix[64];

	snprintf(prefix, sizeof(prefix), "  lbctl %s", cmd_name(c, name, sizeof(name)));
	opts_print_grammar(stdout, prefix, c->tables);
	printf("        %s\n", c->help);
	if (with_args)
		opts_print_help(stdout, c->tables);
}

/* object NULL: every command, one entry each; else that object's
 * commands with a line per argument. */
static int do_help(const char *object)
{
	if (lb_out_is_json()) {
		lb_out_null(NULL, NULL); /* like bpftool: no prose on stdout */
		return 0;
	}
	printf("Usage: lbctl [-j|--json] [-p|--pretty] [--pin-dir DIR] COMMAND\n"
	       "       lbctl help | COMMAND help | --version\n\n");
	for (size_t i = 0; i < NCMDS; i++)
		if (!object || !strcmp(cmd_word(cmds[i]), object))
			print_cmd_help(cmds[i], object != NULL);
	printf("\nExit status: 0 success, 1 failure, 2 usage error.\n");
	return 0;
}

/* Parses c's arguments into a fresh copy of its defaults, then runs it. */
static int run_cmd(const struct cli_cmd *c, int argc, char **argv)
{
	char name[64];
	struct opt_args given;
	void *opts;
	int ret = EXIT_USAGE;

	opts = calloc(1, c->size ? c->size : 1);
	if (!opts) {
		lb_err("out of memory");
		return EXIT_RUNTIME;
	}
	if (c->defaults)
		memcpy(opts, c->defaults, c->size);
	if (opts_parse(cmd_name(c, name, sizeof(name)), cmd_word(c), c->tables,
		       argc, argv, &given))
		goto out;
	for (const struct opt_desc *const *t = c->tables; *t; t++)
		if (opts_fill(*t, &given, opts))
			goto out;
	ret = c->run(opts, &given);
out:
	free(opts);
	return ret;
}

static int dispatch(int argc, char **argv)
{
	const char *word = argv[0];
	bool known = false;

	if (!strcmp(word, "help")) {
		if (argc == 1)
			return do_help(NULL);
		lb_err("'help' takes no arguments");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < NCMDS; i++) {
		const struct cli_cmd *c = cmds[i];

		if (strcmp(cmd_word(c), word))
			continue;
		known = true;
		if (argc > 1 && !strcmp(argv[1], "help"))
			return do_help(word);
		if (!c->object)
			return run_cmd(c, argc - 1, argv + 1);
		if (argc > 1 && !strcmp(argv[1], c->verb))
			return run_cmd(c, argc - 2, argv + 2);
		if (c->object_default && (argc == 1 || argv[1][0] == '-'))
			return run_cmd(c, argc - 1, argv + 1);
	}
	if (known && argc > 1)
		lb_err("'lbctl %s' has no command '%s'; see 'lbctl %s help'",
		       word, argv[1], word);
	else if (known)
		lb_err("'lbctl %s' needs one of its commands; see 'lbctl %s help'",
		       word, word);
	else
		lb_err("unknown command '%s'; see 'lbctl help'", word);
	return EXIT_USAGE;
}

/* Global options may come anywhere (`lbctl show -j`, as the docs write it):
 * they are taken out of argv first. Returns the new argc, or -1 after
 * printing a usage error. */
static int take_global_opts(int argc, char **argv, bool *json, bool *pretty,
			    bool *version)
{
	int n = 1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			*json = true;
		} else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty")) {
			*json = *pretty = true;
		} else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
			*version = true;
		} else if (!strcmp(argv[i], "--pin-dir")) {
			if (i + 1 >= argc || !argv[i + 1][0])
				return -1;
			cli_pin_dir = argv[++i];
		} else {
			argv[n++] = argv[i];
		}
	}
	return n;
}

static int print_version(void)
{
	lb_out_open_object(NULL);
	lb_out_str("version", "lbctl %s", LBCTL_VERSION);
	lb_out_u64("schema", " (schema v%llu)\n", LB_SCHEMA_VERSION);
	lb_out_close_object();
	return 0;
}

static int run(int argc, char **argv, bool json, bool version)
{
	if (argc < 0) {
		lb_err("option '--pin-dir' needs a directory");
		return EXIT_USAGE;
	}
	if (version)
		return print_version();
	if (argc < 2) {
		if (json)
			lb_err("no command given; see 'lbctl help'");
		else
			do_help(NULL);
		return EXIT_USAGE;
	}
	if (argv[1][0] == '-' && argv[1][1]) {
		lb_err("unknown option '%s'; see 'lbctl help'", argv[1]);
		return EXIT_USAGE;
	}
	return dispatch(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
	bool json = false, version = false;
	int ret;

	argc = take_global_opts(argc, argv, &json, &cli_pretty, &version);
	lb_out_init(json, cli_pretty);
	ret = run(argc, argv, json, version);
	lb_out_fini();
	return ret;
}
