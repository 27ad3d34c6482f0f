// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_upgrade.c - hitless replacement of a pinned XDP program; see
 * lb_upgrade.h for the order of steps and what a failure leaves.
 *
 * Every check is driven by the new object's own map definitions and the
 * pins, not by a list of maps kept here, so a map added to the datapath
 * needs nothing in this file. The checks run before libbpf sees the
 * pinned fds because bpf_map__reuse_fd() adopts the pinned map's shape
 * silently, and libbpf's pin-path reuse fails with a bare -EINVAL.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb_msg.h"
#include "lb_upgrade.h"
#include "lb.skel.h"
#include "decap.skel.h"

struct target {
	const char *subdir;	/* under the pin dir; NULL: the dir itself */
	const char *prog_pin;
	const char *prog_name;	/* the program's name in its object */
	enum lb_map_object object;
	/* the map whose entry 0 starts with the schema (__u32), and whose
	 * BPF definition carries LB_SCHEMA_TAG; NULL: no schema */
	const char *schema_map;
	const void *(*elf)(size_t *sz);	/* the built-in object */
	const char *elf_name;
};

static const void *lb_elf(size_t *sz) { return lb_bpf__elf_bytes(sz); }
static const void *decap_elf(size_t *sz) { return decap_bpf__elf_bytes(sz); }

static const struct target targets[] = {
	[LB_UPGRADE_BALANCER] = {
		.prog_pin = LB_PIN_PROG, .prog_name = "xdp_lb",
		.object = LB_MAP_OBJ_LB, .schema_map = "lb_meta",
		.elf = lb_elf, .elf_name = "lb_bpf",
	},
	[LB_UPGRADE_DECAP] = {
		.subdir = LB_PIN_DECAP_DIR, .prog_pin = LB_PIN_DECAP_PROG,
		.prog_name = "xdp_decap", .object = LB_MAP_OBJ_DECAP,
		.elf = decap_elf, .elf_name = "decap_bpf",
	},
};

/* Nothing changed: the message says so, once, for every refusal. */
#define UNCHANGED "; nothing was changed"

static unsigned long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ul + ts.tv_nsec / 1000;
}

static void path_of(char *buf, size_t len, const char *dir, const char *name)
{
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		buf[0] = 0;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	__u32 ilen = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &ilen) ? 0 : info.id;
}

/* The schema the object was built for, from its BTF decl tag on map
 * name; 0 if it carries none. */
static __u32 object_schema(struct bpf_object *obj, const char *name)
{
	struct btf *btf = bpf_object__btf(obj);
	size_t pl = strlen(LB_SCHEMA_TAG_PREFIX);

	if (!btf)
		return 0;
	for (__u32 id = 1; id < btf__type_cnt(btf); id++) {
		const struct btf_type *t = btf__type_by_id(btf, id), *var;
		const char *tag = btf__name_by_offset(btf, t->name_off);

		if (!btf_is_decl_tag(t) || btf_decl_tag(t)->component_idx != -1 ||
		    !tag || strncmp(tag, LB_SCHEMA_TAG_PREFIX, pl))
			continue;
		var = btf__type_by_id(btf, t->type);
		if (var && btf_is_var(var) &&
		    !strcmp(btf__name_by_offset(btf, var->name_off), name))
			return strtoul(tag + pl, NULL, 10);
	}
	return 0;
}

static int check_schema(const struct target *tg, struct bpf_object *obj,
			const char *dir, struct lb_upgrade *up, char *msg,
			size_t len)
{
	struct lb_meta meta = { 0 };
	__u32 zero = 0, want;
	char p[512];
	int fd, err;

	if (!tg->schema_map)
		return 0;
	want = object_schema(obj, tg->schema_map);
	if (!want)
		return lb_msgf(msg, len, -EPROTO,
			       "the object carries no schema tag on %s (built before "
			       "'lbctl upgrade' existed, or not inferlb's)" UNCHANGED,
			       tg->schema_map);
	path_of(p, sizeof(p), dir, tg->schema_map);
	fd = bpf_obj_get(p);
	if (fd < 0)
		return lb_msgf(msg, len, errno == ENOENT ? -EPROTO : -errno,
			       "cannot open %s: %s" UNCHANGED, p, strerror(errno));
	err = bpf_map_lookup_elem(fd, &zero, &meta);
	close(fd);
	if (err)
		return lb_msgf(msg, len, -EPROTO, "cannot read %s" UNCHANGED, p);
	if (meta.schema_version != want)
		return lb_msgf(msg, len, -EPROTO,
			       "the object is of schema v%u, the pinned maps of v%u: "
			       "an upgrade keeps the maps, so only a program of the "
			       "same schema can take over (another schema needs "
			       "'lbctl unload' and a new attach, which drops the "
			       "flows)" UNCHANGED, want, meta.schema_version);
	up->schema = want;
	return 0;
}

/* One field of a map's shape: " max_entries 1048576 (the object: 1024)" */
#define SHAPE(field, pinned, obj)                                            \
	if ((pinned) != (obj))                                                \
		return lb_msgf(msg, len, -EPROTO,                             \
			       "%s: the pinned map has %s %llu, the object %llu: " \
			       "another layout under the same schema" UNCHANGED, \
			       what, field, (unsigned long long)(pinned),     \
			       (unsigned long long)(obj))

/* Does the pinned map (info) have the shape the object defines for map?
 * what names it in the message. inner: compare as an inner map (its
 * max_entries may differ when BPF_F_INNER_MAP says so). */
static int check_shape(const struct bpf_map_info *info, struct bpf_map *map,
		       const char *what, bool inner, char *msg, size_t len)
{
	__u32 flags = bpf_map__map_flags(map);

	SHAPE("type", info->type, (__u32)bpf_map__type(map));
	SHAPE("key size", info->key_size, bpf_map__key_size(map));
	SHAPE("value size", info->value_size, bpf_map__value_size(map));
	SHAPE("flags", info->map_flags, flags);
	SHAPE("map_extra", info->map_extra, bpf_map__map_extra(map));
	if (!inner || !(flags & BPF_F_INNER_MAP))
		SHAPE("max_entries", info->max_entries, bpf_map__max_entries(map));
	return 0;
}

/* A map of maps: the inner maps must have the object's inner shape too
 * (the verifier would check the new program against the pinned outer
 * map's template, which may not be what the object was written for).
 * The first inner map found stands for all: userspace creates them all
 * from one template. None yet: nothing to compare. */
static int check_inner(int outer_fd, struct bpf_map *map, const char *name,
		       char *msg, size_t len)
{
	struct bpf_map *tmpl = bpf_map__inner_map(map);
	void *key, *prev = NULL;
	char what[128];
	int err = 0;
	__u32 id;

	if (!tmpl)
		return 0;
	key = calloc(1, bpf_map__key_size(map));
	if (!key)
		return lb_msgf(msg, len, -ENOMEM, "out of memory" UNCHANGED);
	snprintf(what, sizeof(what), "%s (inner map)", name);
	/* keys of an array of maps are every index, of a hash its entries:
	 * either way a bounded walk */
	while (!bpf_map_get_next_key(outer_fd, prev, key)) {
		struct bpf_map_info info = { 0 };
		__u32 ilen = sizeof(info);
		int fd, gerr;

		prev = key;
		if (bpf_map_lookup_elem(outer_fd, key, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			continue; /* replaced meanwhile: try the next */
		gerr = bpf_obj_get_info_by_fd(fd, &info, &ilen);
		close(fd);
		if (gerr)
			continue;
		err = check_shape(&info, tmpl, what, true, msg, len);
		break;
	}
	free(key);
	return err;
}

static bool in_object(struct bpf_object *obj, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);

	return map && !bpf_map__is_internal(map);
}

/*
 * Each map of the object takes over the pinned map of its name, checked
 * first. A map of the object that is not pinned is refused rather than
 * created: under one schema the maps are the same set, so a new one means
 * the object is of another layout than its schema number says. Global
 * variables (.rodata, .bss: internal maps) belong to the program and are
 * its own, fresh.
 */
static int reuse_maps(const struct target *tg, struct bpf_object *obj,
		      const char *dir, struct lb_upgrade *up, char *msg,
		      size_t len)
{
	struct bpf_map *map;
	char p[512];
	int err;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		struct bpf_map_info info = { 0 };
		__u32 ilen = sizeof(info);
		int fd;

		if (bpf_map__is_internal(map))
			continue;
		path_of(p, sizeof(p), dir, name);
		fd = bpf_obj_get(p);
		if (fd < 0 && errno == ENOENT)
			return lb_msgf(msg, len, -EPROTO,
				       "the object has a map %s that is not pinned under "
				       "%s: another layout under the same schema"
				       UNCHANGED, name, dir);
		if (fd < 0)
			return lb_msgf(msg, len, -errno, "cannot open %s: %s"
				       UNCHANGED, p, strerror(errno));
		err = bpf_obj_get_info_by_fd(fd, &info, &ilen) ?
			lb_msgf(msg, len, -errno, "cannot read %s: %s" UNCHANGED,
				p, strerror(errno)) :
			check_shape(&info, map, name, false, msg, len);
		if (!err)
			err = check_inner(fd, map, name, msg, len);
		if (!err && bpf_map__reuse_fd(map, fd))
			err = lb_msgf(msg, len, -errno, "cannot reuse %s: %s"
				      UNCHANGED, p, strerror(errno));
		close(fd); /* reuse_fd keeps a copy */
		if (err)
			return err;
		up->maps_reused++;
	}
	/* the other way round: a map of ours pinned here that the object
	 * lacks would go on being read and written by lbctl and the agent
	 * with no program behind it */
	for (int i = 0; i < LB_M_COUNT; i++) {
		const char *name = lb_map_table[i].name;

		path_of(p, sizeof(p), dir, name);
		if (lb_map_table[i].object == tg->object && !access(p, F_OK) &&
		    !in_object(obj, name))
			return lb_msgf(msg, len, -EPROTO,
				       "the object lacks the pinned map %s: another "
				       "layout under the same schema" UNCHANGED, name);
	}
	return 0;
}

static struct bpf_object *open_object(const struct target *tg,
				      const char *path, char *msg, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = tg->elf_name);
	struct bpf_object *obj;
	const void *elf;
	size_t sz;

	if (path) {
		obj = bpf_object__open_file(path, NULL);
		if (!obj)
			lb_msgf(msg, len, -errno, "cannot open %s as a BPF object: %s"
				UNCHANGED, path, strerror(errno));
		return obj;
	}
	elf = tg->elf(&sz);
	obj = bpf_object__open_mem(elf, sz, &opts);
	if (!obj)
		lb_msgf(msg, len, -errno, "cannot open the built-in object: %s"
			UNCHANGED, strerror(errno));
	return obj;
}

struct link {
	int fd;
	int old_fd;	/* the program it ran when we looked */
	int idx;	/* in up->devs */
};

/* The device links under dir: fd, current program (fd and id), name.
 * A link whose device is gone (ifindex 0) is left out: nothing runs it.
 * Returns how many, or a negative errno with msg set. */
static int open_links(const char *dir, struct link *links,
		      struct lb_upgrade *up, char *msg, size_t len)
{
	size_t pl = strlen(LB_PIN_LINK_PREFIX);
	struct dirent *de;
	char p[512];
	int n = 0, err = 0;
	DIR *d = opendir(dir);

	if (!d)
		return lb_msgf(msg, len, -errno, "cannot list %s: %s" UNCHANGED,
			       dir, strerror(errno));
	while (!err && (de = readdir(d))) {
		struct bpf_link_info info = { 0 };
		__u32 ilen = sizeof(info);
		struct link *l = &links[n];

		if (strncmp(de->d_name, LB_PIN_LINK_PREFIX, pl) ||
		    strlen(de->d_name + pl) >= sizeof(up->devs[0].ifname))
			continue;
		if (n == LB_UPGRADE_MAX_DEVS) {
			err = lb_msgf(msg, len, -E2BIG, "more than %d devices under %s"
				      UNCHANGED, LB_UPGRADE_MAX_DEVS, dir);
			break;
		}
		path_of(p, sizeof(p), dir, de->d_name);
		l->fd = bpf_obj_get(p);
		if (l->fd < 0) {
			err = lb_msgf(msg, len, -errno, "cannot open %s: %s" UNCHANGED,
				      p, strerror(errno));
			break;
		}
		if (bpf_obj_get_info_by_fd(l->fd, &info, &ilen) ||
		    info.type != BPF_LINK_TYPE_XDP) {
			err = lb_msgf(msg, len, -EPROTO, "%s is not an XDP link"
				      UNCHANGED, p);
			close(l->fd);
			break;
		}
		if (!info.xdp.ifindex) { /* its device was deleted */
			close(l->fd);
			continue;
		}
		l->old_fd = bpf_prog_get_fd_by_id(info.prog_id);
		if (l->old_fd < 0) {
			err = lb_msgf(msg, len, -errno, "cannot open program %u of %s: %s"
				      UNCHANGED, info.prog_id, p, strerror(errno));
			close(l->fd);
			break;
		}
		l->idx = n;
		strcpy(up->devs[n].ifname, de->d_name + pl);
		up->devs[n].old_id = up->devs[n].new_id = info.prog_id;
		n++;
	}
	closedir(d);
	if (err) {
		for (int i = 0; i < n; i++) {
			close(links[i].fd);
			close(links[i].old_fd);
		}
		return err;
	}
	up->ndevs = n;
	return n;
}

/* Switches link l from program from_fd to to_fd, unless it no longer
 * runs from_fd (then -EPERM: someone else changed it). */
static int switch_link(const struct link *l, int from_fd, int to_fd)
{
	LIBBPF_OPTS(bpf_link_update_opts, o, .flags = BPF_F_REPLACE,
		    .old_prog_fd = from_fd);

	return bpf_link_update(l->fd, to_fd, &o) ? -errno : 0;
}

/* "eth0 runs 12 (old), eth1 runs 34 (new)" */
static void where_devices_stand(const struct lb_upgrade *up, char *buf,
				size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 0; i < up->ndevs && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%s runs program %u (%s)",
			      i ? ", " : "", up->devs[i].ifname,
			      up->devs[i].new_id,
			      up->devs[i].new_id == up->devs[i].old_id ? "old" : "new");
}

/*
 * Step 3: every link to new_fd. On a failure, the links switched so far
 * go back to their program; the error says where every device stands.
 */
static int swap_links(struct link *links, int n, int new_fd, __u32 new_id,
		      struct lb_upgrade *up, char *msg, size_t len)
{
	char where[256];
	int i, err = 0, bad;

	up->swap_us = now_us();
	for (i = 0; i < n && !err; i++) {
		err = switch_link(&links[i], links[i].old_fd, new_fd);
		if (!err)
			up->devs[links[i].idx].new_id = new_id;
	}
	up->swap_us = now_us() - up->swap_us;
	if (!err)
		return 0;
	bad = i - 1;
	for (i = 0; i < bad; i++) {
		struct lb_upgrade_dev *d = &up->devs[links[i].idx];

		if (!switch_link(&links[i], new_fd, links[i].old_fd))
			d->new_id = d->old_id;
	}
	where_devices_stand(up, where, sizeof(where));
	return lb_msgf(msg, len, err,
		       "switching %s to the new program failed: %s%s; %s",
		       up->devs[links[bad].idx].ifname, strerror(-err),
		       err == -EPERM ? " (its program was changed meanwhile)" : "",
		       where);
}

int lb_dp_upgrade(struct lb_dp *dp, enum lb_upgrade_what what,
		  const char *obj_path, struct lb_upgrade *up, char *msg,
		  size_t len)
{
	const struct target *tg = &targets[what];
	struct link links[LB_UPGRADE_MAX_DEVS];
	char dir[512], pin[512], tmp[600];
	struct bpf_object *obj = NULL;
	struct bpf_program *prog;
	int old_fd, new_fd, n = 0, err;

	memset(up, 0, sizeof(*up));
	up->load_us = now_us();
	if (tg->subdir)
		path_of(dir, sizeof(dir), dp->dir, tg->subdir);
	else
		snprintf(dir, sizeof(dir), "%s", dp->dir);
	path_of(pin, sizeof(pin), dir, tg->prog_pin);
	snprintf(tmp, sizeof(tmp), "%s" LB_UPGRADE_PIN_SUFFIX, pin);
	old_fd = bpf_obj_get(pin);
	if (old_fd < 0)
		return lb_msgf(msg, len, errno == ENOENT ? -ENOENT : -errno,
			       "%s: %s", pin, errno == ENOENT ?
			       "not loaded, nothing to upgrade ('attach' loads it)" :
			       strerror(errno));
	up->old_prog_id = prog_id(old_fd);
	close(old_fd);

	obj = open_object(tg, obj_path, msg, len);
	if (!obj)
		return -EINVAL;
	prog = bpf_object__find_program_by_name(obj, tg->prog_name);
	if (!prog || bpf_program__type(prog) != BPF_PROG_TYPE_XDP) {
		err = lb_msgf(msg, len, -EINVAL, "the object has no XDP program %s"
			      UNCHANGED, tg->prog_name);
		goto out;
	}
	/* only ours is loaded: the object may carry others (tests, tools) */
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_autoload(prog, !strcmp(bpf_program__name(prog),
							tg->prog_name));
	prog = bpf_object__find_program_by_name(obj, tg->prog_name);
	err = check_schema(tg, obj, dir, up, msg, len);
	if (!err)
		err = reuse_maps(tg, obj, dir, up, msg, len);
	if (err)
		goto out;
	err = bpf_object__load(obj);
	if (err) {
		err = lb_msgf(msg, len, err, "loading the new program failed: %s "
			      "(set LBCTL_DEBUG=1 for the verifier's log)" UNCHANGED,
			      strerror(-err));
		goto out;
	}
	new_fd = bpf_program__fd(prog);
	up->new_prog_id = prog_id(new_fd);
	up->load_us = now_us() - up->load_us;

	/* pinned before any device runs it, so a failure after the swap
	 * leaves nothing running that has no pin */
	unlink(tmp); /* left by an upgrade that died here */
	if (bpf_obj_pin(new_fd, tmp)) {
		err = lb_msgf(msg, len, -errno, "cannot pin %s: %s" UNCHANGED, tmp,
			      strerror(errno));
		goto out;
	}
	n = open_links(dir, links, up, msg, len);
	if (n < 0) {
		err = n;
		n = 0;
		unlink(tmp);
		goto out;
	}
	err = swap_links(links, n, new_fd, up->new_prog_id, up, msg, len);
	if (err) {
		bool any_new = false;

		for (int i = 0; i < up->ndevs; i++)
			any_new |= up->devs[i].new_id != up->devs[i].old_id;
		if (!any_new)
			unlink(tmp);
		goto out;
	}
	if (rename(tmp, pin))
		err = lb_msgf(msg, len, -errno,
			      "every device runs program %u, but it could not take "
			      "the pin %s (%s; it is pinned as %s)", up->new_prog_id,
			      pin, strerror(errno), tmp);
out:
	for (int i = 0; i < n; i++) {
		close(links[i].fd);
		close(links[i].old_fd);
	}
	bpf_object__close(obj); /* the pins and links keep what they hold */
	return err;
}
