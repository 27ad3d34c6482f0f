/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * watch.h - the config file, watched: an edit applies without SIGHUP.
 *
 * A thread watches the file's directory with inotify (editors and tools
 * replace a file by rename, Kubernetes swaps a ConfigMap's symlink, so the
 * file itself is not what to watch) and, on any event there, compares the
 * file's identity and contents stamp (device, inode, size, mtime, after
 * symlinks) with the last one seen. A change is acted on once the
 * directory has been quiet for the debounce time, so a file written in
 * several steps is read once, whole. It then raises SIGHUP on the process:
 * the reload is the one SIGHUP does (a bad file is refused with its file,
 * line and column, and the running config stays).
 *
 * Acted on at start only (agent.watch_config, agent.watch_debounce_ms).
 */
#ifndef LB_AGENT_WATCH_H
#define LB_AGENT_WATCH_H

#include <stddef.h>
#include <stdint.h>

struct lb_cfg_watch;

/* Starts watching path; NULL with msg set on failure (nothing left). Call
 * with SIGHUP blocked (the thread inherits the mask; the signal goes to
 * the process's signalfd). */
struct lb_cfg_watch *lb_cfg_watch_start(const char *path, uint32_t debounce_ms,
					char *msg, size_t len);
/* Stops the thread and frees everything; NULL is fine. */
void lb_cfg_watch_stop(struct lb_cfg_watch *w);
/* Changes acted on so far (SIGHUPs raised). */
uint64_t lb_cfg_watch_changes(const struct lb_cfg_watch *w);

#endif
