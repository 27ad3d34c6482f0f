// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * watch.c - the config file, watched (watch.h says what and why).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sys/poll.h>	/* <poll.h> is agent/poll.h here */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "agent.h"
#include "lb_msg.h"
#include "lb_ops.h"
#include "watch.h"

/* What a change of the file changes: which file it is (a rename or a
 * symlink swap brings another inode) and its contents' stamp. */
struct stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	bool exists;
};

struct lb_cfg_watch {
	char path[PATH_MAX];
	uint32_t debounce_ms;
	int ifd;		/* inotify, on the file's directory */
	int stop_fd;		/* eventfd: lb_cfg_watch_stop() writes it */
	pthread_t th;
	struct stamp last;	/* of the file as last acted on */
	uint64_t changes;	/* SIGHUPs raised (atomic) */
};

static struct stamp stamp_of(const char *path)
{
	struct stamp s = { 0 };
	struct stat st;

	if (stat(path, &st))	/* follows symlinks: the file read */
		return s;
	s.dev = st.st_dev;
	s.ino = st.st_ino;
	s.size = st.st_size;
	s.mtime = st.st_mtim;
	s.exists = true;
	return s;
}

static bool stamp_eq(const struct stamp *a, const struct stamp *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Reads every queued inotify event; true when there was one. What the
 * events say does not matter: the stamp decides. */
static bool drain(int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;

	while (read(ifd, buf, sizeof(buf)) > 0)
		any = true;
	return any;
}

static void *watch_main(void *arg)
{
	struct lb_cfg_watch *w = arg;
	uint64_t quiet_at = 0;	/* act when the directory is quiet by then */

	for (;;) {
		struct pollfd p[2] = { { .fd = w->stop_fd, .events = POLLIN },
				       { .fd = w->ifd, .events = POLLIN } };
		uint64_t now = lb_mono_ms();
		int tmo = -1;

		if (quiet_at)
			tmo = quiet_at > now ? (int)(quiet_at - now) : 0;
		if (poll(p, 2, tmo) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if ((p[1].revents & POLLIN) && drain(w->ifd)) {
			quiet_at = lb_mono_ms() + w->debounce_ms;
			continue;
		}
		if (!quiet_at || lb_mono_ms() < quiet_at)
			continue;
		quiet_at = 0;
		{
			struct stamp s = stamp_of(w->path);

			/* a file that went away is no config: wait for the
			 * next one (the reload would only be refused) */
			if (!s.exists || stamp_eq(&s, &w->last))
				continue;
			w->last = s;
		}
		lb_agent_logf("config: %s changed; reloading", w->path);
		__atomic_add_fetch(&w->changes, 1, __ATOMIC_RELAXED);
		kill(getpid(), SIGHUP);	/* blocked here: the loop's signalfd */
	}
	return NULL;
}

struct lb_cfg_watch *lb_cfg_watch_start(const char *path, uint32_t debounce_ms,
					char *msg, size_t len)
{
	struct lb_cfg_watch *w = calloc(1, sizeof(*w));
	char dir[PATH_MAX];

	if (!w) {
		lb_msgf(msg, len, -ENOMEM, "out of memory");
		return NULL;
	}
	w->ifd = w->stop_fd = -1;
	/* the path as given, not resolved: a symlinked file (a Kubernetes
	 * ConfigMap) changes by a swap in the link's directory */
	if (strlen(path) >= sizeof(dir)) {
		lb_msgf(msg, len, -ENAMETOOLONG, "%s: path too long", path);
		goto fail;
	}
	strcpy(w->path, path);
	strcpy(dir, path);
	w->debounce_ms = debounce_ms;
	w->last = stamp_of(w->path);
	w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->ifd < 0 || w->stop_fd < 0) {
		lb_msgf(msg, len, -errno, "watching %s: %s", path, strerror(errno));
		goto fail;
	}
	if (inotify_add_watch(w->ifd, dirname(dir),
			      IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
			      IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
		lb_msgf(msg, len, -errno, "watching %s's directory: %s", path,
			strerror(errno));
		goto fail;
	}
	if (pthread_create(&w->th, NULL, watch_main, w)) {
		lb_msgf(msg, len, -EAGAIN, "cannot start the config watch thread");
		goto fail;
	}
	return w;
fail:
	if (w->ifd >= 0)
		close(w->ifd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	free(w);
	return NULL;
}

void lb_cfg_watch_stop(struct lb_cfg_watch *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	/* an eventfd write of 1 cannot fail short of a broken fd */
	if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
		pthread_cancel(w->th);
	pthread_join(w->th, NULL);
	close(w->ifd);
	close(w->stop_fd);
	free(w);
}

uint64_t lb_cfg_watch_changes(const struct lb_cfg_watch *w)
{
	return w ? __atomic_load_n(&w->changes, __ATOMIC_RELAXED) : 0;
}
