// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_ring.c - hitless table publication: build the new table completely in
 * a new inner map, then make it current with one ARRAY_OF_MAPS update.
 * Writing slots of a live table in place would let a packet see a mix of
 * old and new slots (array writes are per element, not atomic as a whole).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>

#include "inferlb.h"
#include "lb_maglev.h"
#include "lb_ring.h"

int lb_ring_btf_load(struct lb_ring_btf *rb)
{
	struct btf *btf = btf__new_empty();
	int u32_id, slot_id, err;

	rb->fd = -1;
	if (!btf)
		return -errno;
	u32_id = btf__add_int(btf, "unsigned int", 4, 0);
	slot_id = btf__add_struct(btf, "lb_ring_slot",
				  sizeof(struct lb_ring_slot));
	if (u32_id < 0 || slot_id < 0) {
		err = u32_id < 0 ? u32_id : slot_id;
		goto out;
	}
	err = btf__add_field(btf, "backend_id", u32_id, 0, 0);
	if (!err)
		err = btf__add_field(btf, "prev_backend_id", u32_id, 32, 0);
	if (err)
		goto out;
	err = btf__load_into_kernel(btf);
	if (err)
		goto out;
	rb->fd = fcntl(btf__fd(btf), F_DUPFD_CLOEXEC, 0);
	if (rb->fd < 0) {
		err = -errno;
		goto out;
	}
	rb->key_type_id = u32_id;
	rb->value_type_id = slot_id;
out:
	btf__free(btf);
	return err;
}

void lb_ring_btf_close(struct lb_ring_btf *rb)
{
	if (rb->fd >= 0)
		close(rb->fd);
	rb->fd = -1;
}

int lb_ring_read(int fd, __u32 ring_size, struct lb_ring_slot *out)
{
	LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), done = 0, batch = 0, n, *keys;
	struct lb_ring_slot *vals;
	void *in = NULL;
	int err = 0, e = 0;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.max_entries != ring_size ||
	    info.value_size != sizeof(struct lb_ring_slot))
		return -ERANGE;
	keys = malloc(sizeof(*keys) * ring_size);
	vals = malloc(sizeof(*vals) * ring_size);
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	memset(out, 0, sizeof(*out) * ring_size);
	while (done < ring_size) {
		n = ring_size - done;
		err = bpf_map_lookup_batch(fd, in, &batch, keys + done, vals + done,
					   &n, &bopts);
		e = err ? errno : 0;
		if (err && e != ENOENT)
			break;
		done += n;
		in = &batch;
		if (err) /* an array's last batch ends with ENOENT */
			break;
	}
	if ((!err || e == ENOENT) && done == ring_size) {
		for (__u32 i = 0; i < ring_size; i++)
			if (keys[i] < ring_size)
				out[keys[i]] = vals[i];
		err = 0;
	} else if (done) {
		err = e ? -e : -EIO;
	} else {
		/* a kernel without batch operations on arrays */
		err = 0;
		for (__u32 i = 0; i < ring_size && !err; i++)
			if (bpf_map_lookup_elem(fd, &i, &out[i]))
				err = -errno;
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* The live table of vip_id, if it has ring_size slots, into old.
 * Returns 1 (read), 0 (none, or of another size: a fresh VIP) or -errno. */
static int ring_read_live(int rings_fd, const char *pin, __u32 vip_id,
			  __u32 ring_size, struct lb_ring_slot *old)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), inner_id;
	int fd = -1, err;

	if (bpf_map_lookup_elem(rings_fd, &vip_id, &inner_id))
		return errno == ENOENT ? 0 : -errno;
	/* the pinned live table, if the pin is the table in place */
	if (pin && (fd = bpf_obj_get(pin)) >= 0 &&
	    (bpf_obj_get_info_by_fd(fd, &info, &len) || info.id != inner_id)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		fd = bpf_map_get_fd_by_id(inner_id);
	/* swapped out meanwhile, or not ours to open by id (no
	 * CAP_SYS_ADMIN): the new table starts without previous owners */
	if (fd < 0)
		return errno == ENOENT || errno == EPERM ? 0 : -errno;
	err = lb_ring_read(fd, ring_size, old);
	close(fd);
	/* another size: the VIP's table is being rebuilt from scratch */
	return err == -ERANGE ? 0 : err ? err : 1;
}

/* A new, filled, not yet visible table. Returns its fd or -errno. */
static int ring_create(__u32 ring_size, const struct lb_ring_slot *table,
		       const struct lb_ring_btf *rb)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_INNER_MAP);
	LIBBPF_OPTS(bpf_map_batch_opts, bopts);
	__u32 *keys, count = ring_size;
	int fd, err;

	if (rb && rb->fd >= 0) {
		opts.btf_fd = rb->fd;
		opts.btf_key_type_id = rb->key_type_id;
		opts.btf_value_type_id = rb->value_type_id;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "lb_ring", sizeof(__u32),
			    sizeof(struct lb_ring_slot), ring_size, &opts);
	if (fd < 0)
		return -errno;
	keys = malloc(sizeof(*keys) * ring_size);
	if (!keys) {
		close(fd);
		return -ENOMEM;
	}
	for (__u32 i = 0; i < ring_size; i++)
		keys[i] = i;
	err = bpf_map_update_batch(fd, keys, table, &count, &bopts);
	free(keys);
	if (!err && count != ring_size)
		err = -EIO;
	if (err) {
		close(fd);
		return err < 0 ? err : -EIO;
	}
	return fd;
}

/* The pin of vip_id's live table in pin_dir (suffix: its temporary;
 * bpffs refuses names with a dot). */
static int ring_pin_path(char *buf, size_t n, const char *pin_dir,
			 __u32 vip_id, const char *suffix)
{
	int w = snprintf(buf, n, "%s/" LB_PIN_RING_PREFIX "%u%s", pin_dir,
			 vip_id, suffix);

	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

int lb_ring_install(int rings_fd, __u32 vip_id, __u32 ring_size,
		    const __u32 *table, const struct lb_ring_btf *rb)
{
	return lb_ring_install_at(rings_fd, NULL, vip_id, ring_size, table, rb);
}

int lb_ring_install_at(int rings_fd, const char *pin_dir, __u32 vip_id,
		       __u32 ring_size, const __u32 *table,
		       const struct lb_ring_btf *rb)
{
	char pin[512], tmp[512];
	struct lb_ring_slot *slots, *old;
	int fd, err, live;

	if (vip_id >= LB_MAX_VIPS || !lb_ring_size_ok(ring_size) || !table)
		return -EINVAL;
	slots = calloc(ring_size, sizeof(*slots));
	old = calloc(ring_size, sizeof(*old));
	if (!slots || !old) {
		fd = -ENOMEM;
		goto out;
	}
	/* Second chance: every slot remembers its owner before the last
	 * change of owner (struct lb_ring_slot). */
	if (pin_dir && (ring_pin_path(pin, sizeof(pin), pin_dir, vip_id, "") ||
			ring_pin_path(tmp, sizeof(tmp), pin_dir, vip_id, "_new"))) {
		fd = -ENAMETOOLONG;
		goto out;
	}
	live = ring_read_live(rings_fd, pin_dir ? pin : NULL, vip_id,
			      ring_size, old);
	if (live < 0) {
		fd = live;
		goto out;
	}
	for (__u32 i = 0; i < ring_size; i++) {
		slots[i].backend_id = table[i];
		if (!live)
			slots[i].prev_backend_id = LB_BACKEND_NONE;
		else if (old[i].backend_id != table[i])
			slots[i].prev_backend_id = old[i].backend_id;
		else
			slots[i].prev_backend_id = old[i].prev_backend_id;
	}
	fd = ring_create(ring_size, slots, rb);
out:
	free(slots);
	free(old);
	if (fd < 0)
		return fd;
	/* pinned before it is published, so a failure changes nothing */
	if (pin_dir) {
		unlink(tmp);
		if (bpf_obj_pin(fd, tmp)) {
			err = -errno;
			close(fd);
			return err;
		}
	}
	/* The one step that publishes: the outer slot now points at the new
	 * table. The outer map holds its own reference to it. */
	err = bpf_map_update_elem(rings_fd, &vip_id, &fd, BPF_ANY) ? -errno : 0;
	close(fd);
	/* a rename that fails leaves the table published without its pin:
	 * the next install reads it by id, or starts without prevs */
	if (pin_dir && (err || rename(tmp, pin)))
		unlink(tmp);
	return err;
}

int lb_ring_remove_at(int rings_fd, const char *pin_dir, __u32 vip_id)
{
	char pin[512];

	if (pin_dir && !ring_pin_path(pin, sizeof(pin), pin_dir, vip_id, ""))
		unlink(pin);
	return lb_ring_remove(rings_fd, vip_id);
}

int lb_ring_remove(int rings_fd, __u32 vip_id)
{
	if (bpf_map_delete_elem(rings_fd, &vip_id) && errno != ENOENT)
		return -errno;
	return 0;
}
