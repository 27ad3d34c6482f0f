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
 * CAP_NET_ADMIN, then loop. SIGHUP, or an edit of the file (watch.h),
 * reloads the config (a bad one is refused and the running one kept);
 * SIGTERM/SIGINT stop. Under systemd (sdnotify.h) it says READY=1 once
 * the config is applied, RELOADING=1 around a reload, STOPPING=1, and
 * WATCHDOG=1 from the loop. When the agent
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
#include <syslog.h>
#include <sys/signalfd.h>

#include "agent.h"
#include "caps.h"
#include "config.h"
#include "metrics.h"
#include "sdnotify.h"
#include "watch.h"

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

/* What the command line asks for. */
struct options {
	const char *conf_path;
	bool check;
};

/* Fills o from argv. Returns -1 to go on, or the exit code when there is
 * nothing more to do (--help, --version, a usage error). */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(o, 0, sizeof(*o));
	while ((opt = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
		switch (opt) {
		case 'c':
			o->conf_path = optarg;
			break;
		case 'k':
			o->check = true;
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
	if (!o->conf_path || optind != argc) {
		fprintf(stderr, "Error: %s; see 'lb-agent --help'\n",
			!o->conf_path ? "-c FILE is required" : "unexpected argument");
		return EXIT_USAGE;
	}
	return -1;
}

/* --check: 0 if the file is valid, EXIT_USAGE (with the reason) if not. */
static int check_config(const char *path)
{
	struct lb_agent_conf c;
	char msg[512];

	if (lb_agent_conf_load_file(path, &c, msg, sizeof(msg))) {
		fprintf(stderr, "Error: %s\n", msg);
		return EXIT_USAGE;
	}
	/* what start would refuse beyond the file: TLS pair, libraries */
	if (c.metrics_listen[0] && lb_http_check(&c.web, msg, sizeof(msg))) {
		fprintf(stderr, "Error: %s: %s\n", path, msg);
		lb_agent_conf_free(&c);
		return EXIT_USAGE;
	}
	printf("%s: valid (%zu VIPs)\n", path, c.topo.n_vips);
	if (lb_topo_warning(&c.topo, msg, sizeof(msg)))
		fprintf(stderr, "Warning: %s: %s\n", path, msg);
	lb_agent_conf_free(&c);
	return 0;
}

/* Signals arrive through a signalfd the loop waits on, blocked for every
 * thread (the /metrics thread inherits the mask). Returns the fd or -1
 * with msg set. */
static int signals_fd(char *msg, size_t len)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		snprintf(msg, len, "blocking signals: %s", strerror(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		snprintf(msg, len, "signalfd: %s", strerror(errno));
	return fd;
}

/* After a reload: the /metrics protection (like its address) was acted
 * on at start and stays; say so when the file now asks for another, and
 * whether the next start would take it. */
static void web_note(const struct lb_agent *a, const struct lb_http *http)
{
	char msg[512];

	if (!http || !lb_http_web_changed(http, &a->conf.web))
		return;
	fprintf(stderr, "lb-agent: note: metrics_web and metrics_insecure "
		"change only on restart; /metrics keeps its protection\n");
	if (lb_http_check(&a->conf.web, msg, sizeof(msg)))
		fprintf(stderr, "lb-agent: warning: a restart with this file "
			"would fail: %s\n", msg);
}

/* Handles every signal queued on sfd: SIGHUP reloads (the agent logs the
 * outcome), the others ask to stop. Returns true when one did. */
static bool handle_signals(struct lb_agent *a, const struct lb_http *http,
			   int sfd)
{
	struct signalfd_siginfo si;
	bool stop = false;
	char msg[512];

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo != SIGHUP) {
			stop = true;
			continue;
		}
		lb_sd_reloading();	/* systemctl reload waits for READY=1 */
		if (!lb_agent_reload(a, msg, sizeof(msg)))
			web_note(a, http);
		lb_sd_ready("running; last reload logged");
	}
	return stop;
}

/* The loop, until SIGTERM/SIGINT (0) or a polling error (EXIT_RUNTIME,
 * msg set). */
static int run(struct lb_agent *a, const struct lb_http *http, int sfd,
	       char *msg, size_t len)
{
	for (;;) {
		bool sig = false;
		int err;

		lb_sd_watchdog();	/* a stuck loop gets restarted */
		err = lb_agent_step(a, sfd, &sig);

		if (err) {
			snprintf(msg, len, "polling failed: %s", strerror(-err));
			return EXIT_RUNTIME;
		}
		if (sig && handle_signals(a, http, sfd))
			return 0;
	}
}

/*
 * open -> configure -> start -> run, libbpf-bootstrap style: every step
 * that fails leaves its reason in msg and jumps to the one cleanup, which
 * releases whatever was acquired, in reverse order, on every exit path.
 */
int main(int argc, char **argv)
{
	static struct lb_agent agent;
	struct lb_http *http = NULL;
	struct lb_cfg_watch *watch = NULL;
	struct options o;
	bool started = false;
	char msg[512] = "";
	int rc, sfd = -1, hfd = -1;

	rc = parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.check)
		return check_config(o.conf_path);

	rc = EXIT_RUNTIME;
	lb_sd_init();
	sfd = signals_fd(msg, sizeof(msg));
	if (sfd < 0)
		goto cleanup;
	if (lb_agent_start(&agent, o.conf_path, msg, sizeof(msg)))
		goto cleanup;	/* it released what it had taken */
	started = true;
	/* bound before capabilities go: a port below 1024 needs one */
	if (agent.conf.metrics_listen[0]) {
		hfd = lb_http_bind(agent.conf.metrics_listen, msg, sizeof(msg));
		if (hfd < 0)
			goto cleanup;
	}
	/* before any thread starts: capabilities are per thread */
	if (lb_drop_caps(msg, sizeof(msg)))
		goto cleanup;
	if (hfd >= 0) {
		char how[256];

		http = lb_http_start(hfd, &agent, &agent.conf.web, msg,
				     sizeof(msg));
		if (!http)
			goto cleanup;
		hfd = -1;	/* the server closes it when it stops */
		lb_http_describe(agent.conf.metrics_listen, &agent.conf.web,
				 how, sizeof(how));
		fprintf(stderr, "lb-agent: /metrics on %s\n", how);
	}
	if (agent.conf.watch_config) {
		/* a convenience, not a reason to stop balancing: without it
		 * (inotify limits reached, say) SIGHUP still reloads */
		watch = lb_cfg_watch_start(o.conf_path, agent.conf.watch_debounce_ms,
					   msg, sizeof(msg));
		if (watch)
			fprintf(stderr, "lb-agent: watching %s: an edit applies as "
				"SIGHUP does\n", o.conf_path);
		else
			fprintf(stderr, "%slb-agent: warning: %s is not watched (%s); "
				"SIGHUP reloads it\n", lb_sd_prefix(LOG_WARNING),
				o.conf_path, msg);
	}
	fprintf(stderr, "lb-agent: running with cap_bpf,cap_net_admin only\n");
	lb_sd_ready("running with cap_bpf,cap_net_admin only");
	msg[0] = '\0';
	rc = run(&agent, http, sfd, msg, sizeof(msg));

cleanup:
	if (rc && msg[0])
		fprintf(stderr, "%sError: %s\n", lb_sd_prefix(LOG_ERR), msg);
	if (started) {
		lb_sd_stopping();
		fprintf(stderr, "lb-agent: stopping; the datapath keeps the last state\n");
	}
	lb_cfg_watch_stop(watch);	/* raises no more SIGHUPs */
	lb_http_stop(http);	/* its thread reads the agent */
	if (hfd >= 0)
		close(hfd);
	if (started)
		lb_agent_stop(&agent);
	if (sfd >= 0)
		close(sfd);
	return rc;
}
