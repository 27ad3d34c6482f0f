/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sdnotify.h - lb-agent under systemd: readiness, watchdog, reload and
 * stop notifications (sd_notify(3), libsystemd), and log lines that suit
 * the journal. Every call is a no-op outside systemd (no NOTIFY_SOCKET,
 * no WATCHDOG_USEC, stderr not the journal), so the agent runs the same
 * from a shell, a test or a unit (lb-agent.service: Type=notify).
 */
#ifndef LB_SDNOTIFY_H
#define LB_SDNOTIFY_H

/* Reads the environment once: the watchdog interval, whether stderr is
 * the journal. Call before anything below, and before any thread starts. */
void lb_sd_init(void);

/* READY=1 (with a STATUS= line): the config is applied and the loop is
 * about to run; also ends a reload. */
void lb_sd_ready(const char *status);
/* RELOADING=1: a SIGHUP (or a watched edit) is being applied. */
void lb_sd_reloading(void);
/* STOPPING=1: SIGTERM/SIGINT arrived, the agent is shutting down. */
void lb_sd_stopping(void);
/* WATCHDOG=1 at most every half watchdog interval; call from the loop on
 * every turn (cheap: a clock read when it is not yet due). */
void lb_sd_watchdog(void);

/*
 * The syslog-style prefix ("<3>", "<4>", "<6>" for LOG_ERR, LOG_WARNING,
 * LOG_INFO) that makes journald file a line under its priority, when
 * stderr is the journal; "" otherwise.
 */
const char *lb_sd_prefix(int priority);
/* For lb_agent_logf's format: NULL when stderr is not the journal (the
 * caller stamps the line itself), else the prefix. The agent goes on after
 * every line it logs, so the worst is a warning (a failure it outlives:
 * the format says "failed", "cannot", "refused", "error" or "warning"),
 * else info. Fatal errors are main()'s, at LOG_ERR. */
const char *lb_sd_log_prefix(const char *fmt);

#endif
