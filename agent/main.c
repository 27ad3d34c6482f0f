// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb-agent - polls GPU inference workers and drives inferlb's weights,
 * backend states and new-flow rates (see agent/README.md).
 *
 *   lb-agent -c FILE           run (foreground; logs to stderr)
 *   lb-agent -c FILE --check   validate FILE and exit
 *
 * Start-up: read the config, open the pinned datapath (`lbctl attach`
 * made it), apply the config's VIPs and backends (adopting what is
 * there), bind /metrics, drop every capability but CAP_BPF and
 * CAP_NET_ADMIN, then loop. SIGHUP reloads the config (a bad one is
 * refused and the running one kept); SIGTERM/SIGINT stop. When the agent
 * stops or dies, the datapath keeps forwarding on the last published
 * state (fail-static); the next agent adopts it.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "agent.h"
#include "caps.h"
#include "config.h"
#include "metrics.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: lb-agent -c FILE [--check]\n"
		"Polls the GPU workers in FILE and drives inferlb's weights, states and rates.\n\n"
		"  -c, --config FILE   the YAML config (VIPs, backends, policy)\n"
		"      --check         validate FILE and exit (0 valid, 2 invalid)\n"
		"  -h, --help          this text\n"
		"      --version       print the version\n\n"
		"Signals: SIGHUP reloads FILE (a bad file is refused, the running config kept);\n"
		"SIGTERM/SIGINT stop (the datapath keeps forwarding on the last state).\n");
}

/* Signals arrive through a signalfd the loop waits on, blocked for every
 * thread (the /metrics thread inherits the mask). */
static int signals_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	static struct lb_agent agent;
	const char *conf_path = NULL;
	struct lb_http *http = NULL;
	bool check = false, stop = false;
	char msg[512];
	int opt, sfd, hfd = -1, rc = 0;

	while ((opt = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("lb-agent (inferlb) schema v%d\n", LB_SCHEMA_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!conf_path || optind != argc) {
		fprintf(stderr, "Error: %s; see 'lb-agent --help'\n",
			!conf_path ? "-c FILE is required" : "unexpected argument");
		return EXIT_USAGE;
	}
	if (check) {
		struct lb_agent_conf c;

		if (lb_agent_conf_load_file(conf_path, &c, msg, sizeof(msg))) {
			fprintf(stderr, "Error: %s\n", msg);
			return EXIT_USAGE;
		}
		printf("%s: valid (%zu VIPs)\n", conf_path, c.topo.n_vips);
		if (lb_topo_warning(&c.topo, msg, sizeof(msg)))
			fprintf(stderr, "Warning: %s: %s\n", conf_path, msg);
		lb_agent_conf_free(&c);
		return 0;
	}
	sfd = signals_fd();
	if (sfd < 0) {
		perror("lb-agent: signalfd");
		return EXIT_RUNTIME;
	}
	if (lb_agent_start(&agent, conf_path, msg, sizeof(msg))) {
		fprintf(stderr, "Error: %s\n", msg);
		return EXIT_RUNTIME;
	}
	if (agent.conf.metrics_listen[0]) {
		hfd = lb_http_bind(agent.conf.metrics_listen, msg, sizeof(msg));
		if (hfd < 0) {
			fprintf(stderr, "Error: %s\n", msg);
			lb_agent_stop(&agent);
			return EXIT_RUNTIME;
		}
	}
	if (lb_drop_caps(msg, sizeof(msg))) {
		fprintf(stderr, "Error: %s\n", msg);
		lb_agent_stop(&agent);
		return EXIT_RUNTIME;
	}
	if (hfd >= 0) {
		http = lb_http_start(hfd, &agent, msg, sizeof(msg));
		if (!http) {
			fprintf(stderr, "Error: %s\n", msg);
			lb_agent_stop(&agent);
			return EXIT_RUNTIME;
		}
		fprintf(stderr, "lb-agent: /metrics on http://%s/metrics\n",
			agent.conf.metrics_listen);
	}
	fprintf(stderr, "lb-agent: running with cap_bpf,cap_net_admin only\n");
	while (!stop) {
		bool sig = false;
		int err = lb_agent_step(&agent, sfd, &sig);

		if (err) {
			fprintf(stderr, "Error: polling failed: %s\n", strerror(-err));
			rc = EXIT_RUNTIME;
			break;
		}
		while (sig) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) != sizeof(si))
				break;
			if (si.ssi_signo == SIGHUP)
				lb_agent_reload(&agent, msg, sizeof(msg));
			else
				stop = true;
		}
	}
	fprintf(stderr, "lb-agent: stopping; the datapath keeps the last state\n");
	lb_http_stop(http);
	lb_agent_stop(&agent);
	close(sfd);
	return rc;
}
