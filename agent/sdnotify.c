// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* sdnotify.c - see sdnotify.h. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "sdnotify.h"

static uint64_t wd_usec;	/* 0: no watchdog asked for */
static uint64_t wd_last_usec;	/* CLOCK_MONOTONIC of the last WATCHDOG=1 */
static bool journal;

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stdout or
 * stderr is the journal; it is inherited, so compare it with stderr
 * itself (a child redirected to a file is not logging to the journal). */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st))
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void lb_sd_init(void)
{
	uint64_t usec = 0;

	/* 0 for unset_environment: children (none today) may look too */
	if (sd_watchdog_enabled(0, &usec) > 0)
		wd_usec = usec;
	journal = stderr_is_journal();
}

void lb_sd_ready(const char *status)
{
	sd_notifyf(0, "READY=1\nSTATUS=%s", status ? status : "running");
}

void lb_sd_reloading(void)
{
	/* MONOTONIC_USEC: what Type=notify-reload (systemd >= 253) wants;
	 * older managers ignore it */
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)mono_usec());
}

void lb_sd_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

void lb_sd_watchdog(void)
{
	uint64_t now;

	if (!wd_usec)
		return;
	now = mono_usec();
	/* half the interval, as sd_watchdog_enabled(3) recommends */
	if (wd_last_usec && now - wd_last_usec < wd_usec / 2)
		return;
	wd_last_usec = now;
	sd_notify(0, "WATCHDOG=1");
}

const char *lb_sd_prefix(int priority)
{
	if (!journal)
		return "";
	switch (priority) {
	case LOG_ERR:
		return "<3>";
	case LOG_WARNING:
		return "<4>";
	default:
		return "<6>";
	}
}

const char *lb_sd_log_prefix(const char *fmt)
{
	static const char *const warn[] = {
		"failed", "cannot", "refused", "error", "warning",
	};

	if (!journal)
		return NULL;
	for (size_t i = 0; i < sizeof(warn) / sizeof(warn[0]); i++)
		if (strstr(fmt, warn[i]))
			return lb_sd_prefix(LOG_WARNING);
	return lb_sd_prefix(LOG_INFO);
}
