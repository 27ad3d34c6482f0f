/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_dp_errors.c - lb_dp's error contract (lib/lb_dp.h): -ENOENT means
 * exactly "nothing of the balancer is pinned under the directory", so that
 * lbctl can tell "not attached" by the code, not by the message; every
 * other failure is another errno.
 *
 * Runs on plain directories under /tmp (no bpffs, nothing loaded), but
 * lb_dp_open calls bpf(), which needs root where unprivileged BPF is off.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "lb_dp.h"

struct fx {
	char root[64];  /* a fresh directory under /tmp */
	char path[256]; /* scratch: a path under root */
	char msg[512];
	struct lb_dp dp;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->root, "/tmp/test_dp_errors.XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	f->dp.dir_fd = -1;
	f->dp.rb.fd = -1;
	for (int i = 0; i < LB_M_COUNT; i++)
		f->dp.fd[i] = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	lb_dp_close(&f->dp);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", f->root);
	free(f);
	return 0;
}

static const char *under(struct fx *f, const char *name)
{
	snprintf(f->path, sizeof(f->path), "%s/%s", f->root, name);
	return f->path;
}

static void touch(struct fx *f, const char *name)
{
	int fd = open(under(f, name), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
}

/* No directory: not attached. */
static void test_lock_no_dir(void **state)
{
	struct fx *f = *state;

	assert_int_equal(lb_dp_lock(&f->dp, under(f, "inferlb"), false, f->msg,
				    sizeof(f->msg)), -ENOENT);
	assert_non_null(strstr(f->msg, "not attached"));
}

/* A directory with nothing of inferlb's in it: lock works, open says not
 * attached, unload has nothing to remove. */
static void test_open_empty_dir(void **state)
{
	struct fx *f = *state;

	touch(f, "not_ours");
	assert_int_equal(lb_dp_lock(&f->dp, f->root, false, f->msg,
				    sizeof(f->msg)), 0);
	assert_int_equal(lb_dp_open(&f->dp, f->msg, sizeof(f->msg)), -ENOENT);
	assert_non_null(strstr(f->msg, "not attached"));
	assert_int_equal(lb_dp_unload(&f->dp, f->msg, sizeof(f->msg)), -ENOENT);
	assert_int_equal(access(under(f, "not_ours"), F_OK), 0);
}

/* Some of the balancer's pins but not lb_meta (an interrupted run, or
 * another version): a failure, but not "not attached", which would send
 * the operator to `attach` and round in a circle. */
static void test_open_incomplete_pins(void **state)
{
	struct fx *f = *state;

	touch(f, lb_map_name(LB_M_VIPS));
	assert_int_equal(lb_dp_lock(&f->dp, f->root, false, f->msg,
				    sizeof(f->msg)), 0);
	assert_int_equal(lb_dp_open(&f->dp, f->msg, sizeof(f->msg)), -EPROTO);
	assert_non_null(strstr(f->msg, "lb_meta is missing"));
	assert_null(strstr(f->msg, "not attached"));
}

/* A program pin alone counts as pinned too. */
static void test_open_program_only(void **state)
{
	struct fx *f = *state;

	touch(f, LB_PIN_PROG);
	assert_int_equal(lb_dp_lock(&f->dp, f->root, false, f->msg,
				    sizeof(f->msg)), 0);
	assert_int_equal(lb_dp_open(&f->dp, f->msg, sizeof(f->msg)), -EPROTO);
}

/* Creating the directory under a parent that does not exist fails with
 * its own code, not the one that means "nothing to do". */
static void test_create_missing_parent(void **state)
{
	struct fx *f = *state;
	int err = lb_dp_lock(&f->dp, under(f, "absent/inferlb"), true, f->msg,
			     sizeof(f->msg));

	assert_true(err < 0);
	assert_int_not_equal(err, -ENOENT);
}

/* A path through a regular file: an error, not "not attached". */
static void test_lock_not_a_dir(void **state)
{
	struct fx *f = *state;
	char dir[256];

	touch(f, "file");
	snprintf(dir, sizeof(dir), "%s/file/inferlb", f->root);
	assert_int_equal(lb_dp_lock(&f->dp, dir, false, f->msg, sizeof(f->msg)),
			 -ENOTDIR);
}

/* Unloaded by the process we waited for: nothing left, -ENOENT. */
static void test_lock_unloaded_while_waiting(void **state)
{
	struct fx *f = *state;
	char dir[256];
	int ready[2], status;
	pid_t pid;
	char c;

	snprintf(dir, sizeof(dir), "%s/inferlb", f->root);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) { /* another lbctl: holds the lock, then unloads */
		int fd = open(dir, O_RDONLY | O_DIRECTORY);

		if (fd < 0 || flock(fd, LOCK_EX))
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		usleep(200000);
		_exit(rmdir(dir) ? 1 : 0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	assert_int_equal(lb_dp_lock(&f->dp, dir, false, f->msg, sizeof(f->msg)),
			 -ENOENT);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lock_no_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_empty_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_incomplete_pins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_program_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_missing_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_not_a_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_unloaded_while_waiting, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
