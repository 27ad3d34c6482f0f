// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lb_dp.c - pin directory, lock, load, attach and unload of the datapath.
 *
 * The first `attach` loads the BPF object with every map's pin path set:
 * libbpf creates and pins what is missing and reuses what is there (so a
 * re-load keeps the flow tables). The program is pinned too, and each
 * device gets its own pinned bpf_link: removing a link's pin detaches it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "inferlb.h"
#include "lb_dp.h"
#include "lb_msg.h"
#include "lb_upgrade.h"
#include "lb.skel.h"
#include "decap.skel.h"

#define BPF_FS_MAGIC_NUMBER 0xcafe4a11
#define BPF_FS_ROOT "/sys/fs/bpf"
#define LOCK_WAIT_MS 30000

#define LB_MAP_OPENED_OPEN true
#define LB_MAP_OPENED_PIN false
#define LB_MAP_DESC(id, name_, key, value, object_, lbdp)                      \
	[LB_M_##id] = {                                                        \
		.name = #name_,                                                \
		.key_size = sizeof(key),                                       \
		.value_size = sizeof(value),                                   \
		.object = LB_MAP_OBJ_##object_,                                \
		.opened = LB_MAP_OPENED_##lbdp,                                \
	},

/* Sizes are what lb_dp_open checks pinned maps against: a stale pin of
 * another layout is refused even if its schema number were right. */
const struct lb_map_desc lb_map_table[LB_M_COUNT] = {
	LB_MAP_TABLE(LB_MAP_DESC)
};

static int not_attached(char *msg, size_t len)
{
	return lb_msgf(msg, len, -ENOENT,
		       "inferlb is not attached; run 'lbctl attach DEV' first");
}

/* -errno of a failure that is not "nothing is pinned": a missing path
 * component (ENOENT) becomes -ENOTDIR, so that -ENOENT keeps the one
 * meaning lb_dp.h gives it. */
static int not_enoent(int err)
{
	return err == ENOENT ? -ENOTDIR : -err;
}

/* dir/name into buf; an empty string if it does not fit (dir is checked
 * to be short in lb_dp_lock, so that does not happen in practice). */
static void path_of(char *buf, size_t len, const char *dir, const char *name)
{
	if (snprintf(buf, len, "%s/%s", dir, name) >= (int)len)
		buf[0] = 0;
}

/* libbpf's own messages (verifier logs, pin reuse) only with LBCTL_DEBUG;
 * lbctl prints one line of its own for every failure. */
static int quiet_libbpf(enum libbpf_print_level level, const char *fmt,
			va_list ap)
{
	if (level == LIBBPF_DEBUG || !getenv("LBCTL_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int ensure_bpffs(char *msg, size_t len)
{
	struct statfs st;

	if (!statfs(BPF_FS_ROOT, &st) && st.f_type == BPF_FS_MAGIC_NUMBER)
		return 0;
	mkdir(BPF_FS_ROOT, 0700);
	if (mount("bpf", BPF_FS_ROOT, "bpf", 0, "mode=0700"))
		return lb_msgf(msg, len, not_enoent(errno),
			    "cannot mount bpffs on %s: %s", BPF_FS_ROOT,
			    strerror(errno));
	return 0;
}

/* One lbctl (or agent) at a time changes the datapath; wait for the
 * other one a bounded time, and say so. */
static int wait_lock(struct lb_dp *dp, char *msg, size_t len)
{
	struct stat st;

	for (int waited = 0; flock(dp->dir_fd, LOCK_EX | LOCK_NB); waited++) {
		if (errno != EWOULDBLOCK)
			return lb_msgf(msg, len, -errno, "cannot lock %s: %s", dp->dir,
				    strerror(errno));
		if (waited == 0)
			fprintf(stderr, "Waiting for another lbctl holding %s...\n",
				dp->dir);
		if (waited >= LOCK_WAIT_MS / 10)
			return lb_msgf(msg, len, -EBUSY,
				    "%s stayed locked by another lbctl or the agent for %d s; try again",
				    dp->dir, LOCK_WAIT_MS / 1000);
		usleep(10000);
	}
	dp->locked = true;
	/* unloaded by the process we waited for: nothing left here */
	if (!fstat(dp->dir_fd, &st) && st.st_nlink == 0)
		return not_attached(msg, len);
	return 0;
}

void lb_dp_unlock(struct lb_dp *dp)
{
	if (dp->dir_fd >= 0)
		flock(dp->dir_fd, LOCK_UN);
	dp->locked = false;
}

int lb_dp_relock(struct lb_dp *dp, char *msg, size_t len)
{
	if (dp->dir_fd < 0)
		return lb_msgf(msg, len, -EBADF, "pin directory not open");
	return wait_lock(dp, msg, len);
}

int lb_dp_lock(struct lb_dp *dp, const char *dir, bool create, char *msg,
	       size_t len)
{
	int err;

	memset(dp, 0, sizeof(*dp));
	dp->dir_fd = -1;
	dp->rb.fd = -1;
	for (int i = 0; i < LB_M_COUNT; i++)
		dp->fd[i] = -1;
	libbpf_set_print(quiet_libbpf);
	if (strlen(dir) >= sizeof(dp->dir) - 64)
		return lb_msgf(msg, len, -ENAMETOOLONG, "pin directory '%s' is too long", dir);
	strcpy(dp->dir, dir);
	if (create) {
		err = ensure_bpffs(msg, len);
		if (err)
			return err;
		if (mkdir(dir, 0700) && errno != EEXIST)
			return lb_msgf(msg, len, not_enoent(errno),
				    "cannot create %s: %s", dir, strerror(errno));
		chmod(dir, 0700);
	}
	dp->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dp->dir_fd < 0) {
		if (errno == ENOENT && !create)
			return not_attached(msg, len);
		return lb_msgf(msg, len, not_enoent(errno), "cannot open %s: %s",
			    dir, strerror(errno));
	}
	return wait_lock(dp, msg, len);
}

static bool pinned(const char *dir, const char *name)
{
	char p[512];

	path_of(p, sizeof(p), dir, name);
	return access(p, F_OK) == 0;
}

/* Is any of the balancer's pins (its program, a map of bpf/lb.bpf.c)
 * under dir? */
static bool holds_balancer(const char *dir)
{
	if (pinned(dir, LB_PIN_PROG))
		return true;
	for (int i = 0; i < LB_M_COUNT; i++)
		if (lb_map_table[i].object == LB_MAP_OBJ_LB &&
		    pinned(dir, lb_map_table[i].name))
			return true;
	return false;
}

static void close_maps(struct lb_dp *dp)
{
	for (int i = 0; i < LB_M_COUNT; i++) {
		if (dp->fd[i] >= 0)
			close(dp->fd[i]);
		dp->fd[i] = -1;
	}
}

/* Opens the pinned map i into dp->fd[i] and checks its sizes. */
static int open_map(struct lb_dp *dp, int i, char *msg, size_t len)
{
	const struct lb_map_desc *m = &lb_map_table[i];
	struct bpf_map_info info = { 0 };
	__u32 ilen = sizeof(info);
	char p[512];

	path_of(p, sizeof(p), dp->dir, m->name);
	dp->fd[i] = bpf_obj_get(p);
	if (dp->fd[i] < 0) {
		if (errno != ENOENT)
			return lb_msgf(msg, len, -errno, "cannot open %s: %s", p,
				    strerror(errno));
		if (!holds_balancer(dp->dir))
			return not_attached(msg, len);
		return lb_msgf(msg, len, -EPROTO,
			    "%s is missing: the pins under %s are incomplete or of "
			    "another version; run 'lbctl unload' to start over",
			    p, dp->dir);
	}
	if (bpf_obj_get_info_by_fd(dp->fd[i], &info, &ilen) ||
	    info.key_size != m->key_size || info.value_size != m->value_size)
		return lb_msgf(msg, len, -EPROTO,
			    "%s has another layout than this lbctl expects; "
			    "run 'lbctl unload' to start over or use the "
			    "lbctl that created it", p);
	return 0;
}

int lb_dp_open(struct lb_dp *dp, char *msg, size_t len)
{
	struct lb_meta meta = { 0 };
	__u32 zero = 0;
	int err;

	for (int i = 0; i < LB_M_COUNT; i++) {
		if (!lb_map_table[i].opened)
			continue;
		err = open_map(dp, i, msg, len);
		if (err)
			return err;
	}
	if (bpf_map_lookup_elem(dp->fd[LB_M_META], &zero, &meta) ||
	    meta.schema_version != LB_SCHEMA_VERSION)
		return lb_msgf(msg, len, -EPROTO,
			    "pinned maps have schema v%u, this lbctl speaks v%u; "
			    "use a matching lbctl or run 'lbctl unload' to start over",
			    meta.schema_version, LB_SCHEMA_VERSION);
	if (lb_ring_btf_load(&dp->rb))
		dp->rb.fd = -1; /* tables then lack field names, nothing worse */
	return 0;
}

/* Pins every map of obj (opened, not loaded) under dir by its name:
 * loading then creates and pins what is missing and reuses what is
 * there. */
static int pin_maps_under(struct bpf_object *obj, const char *dir)
{
	struct bpf_map *map;
	char p[512];
	int err;

	bpf_object__for_each_map(map, obj) {
		path_of(p, sizeof(p), dir, bpf_map__name(map));
		err = bpf_map__set_pin_path(map, p);
		if (err)
			return err;
	}
	return 0;
}

/* First load: create or reuse every map by pin path, pin the program,
 * write the schema version and default settings into fresh maps. */
int lb_dp_load(struct lb_dp *dp, char *msg, size_t len)
{
	struct lb_meta meta = { .schema_version = LB_SCHEMA_VERSION };
	struct lb_settings cfg = { 0 };
	struct lb_bpf *skel;
	__u32 zero = 0;
	char p[512];
	int err;

	if (pinned(dp->dir, LB_PIN_PROG))
		return lb_dp_open(dp, msg, len);
	/* Maps left without a program (an interrupted run): they must be of
	 * this schema before they are reused. */
	if (pinned(dp->dir, lb_map_name(LB_M_META))) {
		err = lb_dp_open(dp, msg, len);
		if (err)
			return err;
		close_maps(dp);
		lb_ring_btf_close(&dp->rb);
	}
	skel = lb_bpf__open();
	if (!skel)
		return lb_msgf(msg, len, -errno, "cannot open the balancer object: %s",
			    strerror(errno));
	err = pin_maps_under(skel->obj, dp->dir);
	if (err)
		goto out_msg;
	err = lb_bpf__load(skel);
	if (err) {
		snprintf(msg, len, "loading the balancer failed: %s (set "
			 "LBCTL_DEBUG=1 for the verifier's log)", strerror(-err));
		goto out;
	}
	path_of(p, sizeof(p), dp->dir, LB_PIN_PROG);
	err = bpf_program__pin(skel->progs.xdp_lb, p);
	if (err)
		goto out_msg;
	/* Fresh maps hold zeros; reused ones keep their state. */
	bpf_map_lookup_elem(bpf_map__fd(skel->maps.lb_settings), &zero, &cfg);
	if (!cfg.hash_seed) {
		cfg.hash_seed = LB_HASH_SEED_DEFAULT;
		cfg.mtu = 1500;
		bpf_map_update_elem(bpf_map__fd(skel->maps.lb_settings), &zero, &cfg, 0);
	}
	{
		struct lb_meta old = { 0 };

		bpf_map_lookup_elem(bpf_map__fd(skel->maps.lb_meta), &zero, &old);
		if (!old.schema_version)
			bpf_map_update_elem(bpf_map__fd(skel->maps.lb_meta), &zero,
					    &meta, 0);
	}
	lb_bpf__destroy(skel);
	dp->created = true;
	return lb_dp_open(dp, msg, len);
out_msg:
	snprintf(msg, len, "pinning under %s failed: %s", dp->dir, strerror(-err));
out:
	lb_bpf__destroy(skel);
	return err;
}

#define LB_LOAD_MAP_BYTES                                                    \
	((sizeof(struct lb_be_load) * LB_MAX_BACKENDS + 4095) & ~(size_t)4095)

struct lb_be_load *lb_dp_load_map(struct lb_dp *dp, char *msg, size_t len)
{
	void *p;

	if (dp->load)
		return dp->load;
	p = mmap(NULL, LB_LOAD_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		 dp->fd[LB_M_BE_LOAD], 0);
	if (p == MAP_FAILED) {
		lb_msgf(msg, len, -errno, "cannot map %s: %s",
			lb_map_name(LB_M_BE_LOAD), strerror(errno));
		return NULL;
	}
	dp->load = p;
	return dp->load;
}

void lb_dp_close(struct lb_dp *dp)
{
	if (dp->load)
		munmap(dp->load, LB_LOAD_MAP_BYTES);
	dp->load = NULL;
	close_maps(dp);
	lb_ring_btf_close(&dp->rb);
	if (dp->dir_fd >= 0)
		close(dp->dir_fd); /* releases the lock */
	dp->dir_fd = -1;
	dp->locked = false;
}

/* A device's MTU as this network namespace sees it (sysfs would show the
 * mount namespace's view, which nsenter --net does not change). */
static int device_mtu(const char *ifname)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), mtu = -1;

	if (fd < 0)
		return -1;
	if (snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname) >=
	    (int)sizeof(ifr.ifr_name)) {
		close(fd);
		return -1;
	}
	if (!ioctl(fd, SIOCGIFMTU, &ifr))
		mtu = ifr.ifr_mtu;
	close(fd);
	return mtu;
}

static int list_links(const char *dir, char names[][16], int max);

/* Settings taken from the attached devices: the smallest MTU of them all,
 * and the first device's addresses as the outer source of IPIP packets. */
static void config_from_devices(struct lb_dp *dp, const char *ifname)
{
	char names[16][16];
	struct lb_settings cfg;
	struct ifaddrs *ifa, *a;
	int n, mtu, min = 0;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg))
		return;
	n = list_links(dp->dir, names, 16);
	for (int i = 0; i < n; i++) {
		mtu = device_mtu(names[i]);
		if (mtu > 0 && (!min || mtu < min))
			min = mtu;
	}
	if (min >= 1320)
		cfg.mtu = min;
	else if (min > 0)
		fprintf(stderr, "Warning: MTU %d is below 1320; IPv6 through ipip "
			"cannot work, keeping %u\n", min, cfg.mtu);
	if (!getifaddrs(&ifa)) {
		for (a = ifa; a; a = a->ifa_next) {
			if (!a->ifa_addr || strcmp(a->ifa_name, ifname))
				continue;
			if (a->ifa_addr->sa_family == AF_INET && !cfg.encap_src_v4)
				cfg.encap_src_v4 =
					((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr;
			if (a->ifa_addr->sa_family == AF_INET6) {
				struct in6_addr *x =
					&((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr;
				static const __u8 none[16];

				if (!IN6_IS_ADDR_LINKLOCAL(x) &&
				    !memcmp(cfg.encap_src_v6, none, 16))
					memcpy(cfg.encap_src_v6, x, 16);
			}
		}
		freeifaddrs(ifa);
	}
	bpf_map_update_elem(dp->fd[LB_M_SETTINGS], &zero, &cfg, 0);
}

static int attach_prog(const char *dir, const char *prog_pin,
		       const char *ifname, enum lb_xdp_mode mode, bool force,
		       char *msg, size_t len)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	char link[512], prog[512], name[64];
	int ifindex = if_nametoindex(ifname), pfd, lfd, err;
	__u32 cur = 0;

	if (!ifindex)
		return lb_msgf(msg, len, -ENODEV, "no device '%s'", ifname);
	snprintf(name, sizeof(name), LB_PIN_LINK_PREFIX "%s", ifname);
	path_of(link, sizeof(link), dir, name);
	if (!access(link, F_OK))
		return lb_msgf(msg, len, -EEXIST,
			    "already attached to %s ('lbctl detach %s' removes it)",
			    ifname, ifname);
	if (!bpf_xdp_query_id(ifindex, 0, &cur) && cur) {
		if (!force)
			return lb_msgf(msg, len, -EBUSY,
				    "%s already runs XDP program id %u; use --force to replace it",
				    ifname, cur);
		if (bpf_xdp_detach(ifindex, XDP_FLAGS_SKB_MODE, NULL) &&
		    bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL))
			return lb_msgf(msg, len, -EBUSY,
				    "cannot remove program id %u from %s (attached "
				    "through a link its owner must remove)", cur, ifname);
	}
	path_of(prog, sizeof(prog), dir, prog_pin);
	pfd = bpf_obj_get(prog);
	if (pfd < 0)
		return lb_msgf(msg, len, -errno, "cannot open %s: %s", prog,
			    strerror(errno));
	opts.flags = mode == LB_XDP_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;
	lfd = bpf_link_create(pfd, ifindex, BPF_XDP, &opts);
	close(pfd);
	if (lfd < 0)
		return lb_msgf(msg, len, -errno,
			    "attaching to %s in %s mode failed: %s%s", ifname,
			    mode == LB_XDP_NATIVE ? "native" : "skb",
			    strerror(errno),
			    mode == LB_XDP_NATIVE ?
				    " (no silent fallback; try --mode skb)" : "");
	err = bpf_obj_pin(lfd, link);
	close(lfd); /* the pin keeps the link, and the attachment, alive */
	if (err)
		return lb_msgf(msg, len, -errno, "cannot pin %s: %s", link,
			    strerror(errno));
	return 0;
}

int lb_dp_attach(struct lb_dp *dp, const char *ifname, enum lb_xdp_mode mode,
		 bool force, char *msg, size_t len)
{
	int err = attach_prog(dp->dir, LB_PIN_PROG, ifname, mode, force, msg, len);

	if (!err)
		config_from_devices(dp, ifname);
	return err;
}

static int detach_link(const char *dir, const char *ifname, char *msg,
		       size_t len, const char *what)
{
	char link[512], name[64];

	snprintf(name, sizeof(name), LB_PIN_LINK_PREFIX "%s", ifname);
	path_of(link, sizeof(link), dir, name);
	if (unlink(link)) {
		if (errno == ENOENT)
			return lb_msgf(msg, len, -ENOENT, "%s is not attached to %s",
				    what, ifname);
		return lb_msgf(msg, len, -errno, "cannot remove %s: %s", link,
			    strerror(errno));
	}
	return 0;
}

int lb_dp_detach(struct lb_dp *dp, const char *ifname, char *msg, size_t len)
{
	return detach_link(dp->dir, ifname, msg, len, "inferlb");
}

static int list_links(const char *dir, char names[][16], int max)
{
	size_t pl = strlen(LB_PIN_LINK_PREFIX);
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (strncmp(de->d_name, LB_PIN_LINK_PREFIX, pl) ||
		    strlen(de->d_name + pl) >= 16)
			continue;
		strcpy(names[n++], de->d_name + pl);
	}
	closedir(d);
	return n;
}

int lb_dp_attached(struct lb_dp *dp, char names[][16], int max)
{
	return list_links(dp->dir, names, max);
}

/*
 * Is name one of the pins inferlb makes? Programs, links, and every map
 * of the two objects: attach pins each map under its own name, and
 * lb_map_table lists them all (tests/test_maps.c holds it to the
 * objects), so a map added to the datapath is removed by unload too.
 */
static bool is_our_pin(const char *name)
{
	/* maps of earlier schemas, renamed since: an upgrade's unload
	 * removes them too */
	static const char *const retired[] = { "lb_config" /* schema <= 4 */ };

	for (size_t i = 0; i < sizeof(retired) / sizeof(retired[0]); i++)
		if (!strcmp(name, retired[i]))
			return true;
	if (!strncmp(name, LB_PIN_LINK_PREFIX, strlen(LB_PIN_LINK_PREFIX)) ||
	    !strncmp(name, LB_PIN_RING_PREFIX, strlen(LB_PIN_RING_PREFIX)) ||
	    !strcmp(name, LB_PIN_PROG) || !strcmp(name, LB_PIN_DECAP_PROG) ||
	    !strcmp(name, LB_PIN_PROG LB_UPGRADE_PIN_SUFFIX) ||
	    !strcmp(name, LB_PIN_DECAP_PROG LB_UPGRADE_PIN_SUFFIX))
		return true;
	for (int i = 0; i < LB_M_COUNT; i++)
		if (!strcmp(name, lb_map_table[i].name))
			return true;
	return false;
}

/* Removes inferlb's pins from dir, then dir if that left it empty.
 * Anything else found there is left alone (and the directory with it). */
static int remove_pins(const char *dir)
{
	struct dirent *de;
	char p[512];
	int err = 0;
	DIR *d = opendir(dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (!is_our_pin(de->d_name))
			continue;
		path_of(p, sizeof(p), dir, de->d_name);
		if (unlink(p) && errno != ENOENT && !err)
			err = -errno;
	}
	closedir(d);
	if (!err && rmdir(dir) && errno != ENOENT && errno != ENOTEMPTY)
		err = -errno;
	return err;
}

int lb_dp_unload(struct lb_dp *dp, char *msg, size_t len)
{
	char p[512];
	int err;

	/* Only a directory that holds inferlb is emptied. */
	if (!holds_balancer(dp->dir) && !pinned(dp->dir, LB_PIN_DECAP_DIR))
		return lb_msgf(msg, len, -ENOENT,
			    "%s holds no inferlb pins; nothing to unload", dp->dir);
	close_maps(dp);
	path_of(p, sizeof(p), dp->dir, LB_PIN_DECAP_DIR);
	err = remove_pins(p);
	if (!err)
		err = remove_pins(dp->dir);
	if (err)
		return lb_msgf(msg, len, err, "cannot remove the pins under %s: %s",
			    dp->dir, strerror(-err));
	return 0;
}

/* ---- decap ---------------------------------------------------------------- */

static int decap_fill_addrs(int map_fd, const char *ifname)
{
	struct lb_decap_addr v = { 0 };
	struct ifaddrs *ifa, *a;
	int n = 0;

	if (getifaddrs(&ifa))
		return -errno;
	for (a = ifa; a; a = a->ifa_next) {
		struct lb_addr_key k = { 0 };

		if (!a->ifa_addr || strcmp(a->ifa_name, ifname))
			continue;
		if (a->ifa_addr->sa_family == AF_INET) {
			memcpy(k.addr, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, 4);
			k.family = LB_AF_INET;
		} else if (a->ifa_addr->sa_family == AF_INET6) {
			memcpy(k.addr, &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, 16);
			k.family = LB_AF_INET6;
		} else {
			continue;
		}
		if (!bpf_map_update_elem(map_fd, &k, &v, 0))
			n++;
	}
	freeifaddrs(ifa);
	return n;
}

int lb_dp_decap_attach(struct lb_dp *dp, const char *ifname,
		       enum lb_xdp_mode mode, bool force, char *msg, size_t len)
{
	struct decap_bpf *skel = NULL;
	char dir[512], p[512];
	int err, fd;

	if (!if_nametoindex(ifname))
		return lb_msgf(msg, len, -ENODEV, "no device '%s'", ifname);
	path_of(dir, sizeof(dir), dp->dir, LB_PIN_DECAP_DIR);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return lb_msgf(msg, len, -errno, "cannot create %s: %s", dir,
			    strerror(errno));
	if (!pinned(dir, LB_PIN_DECAP_PROG)) {
		skel = decap_bpf__open();
		if (!skel)
			return lb_msgf(msg, len, -errno, "cannot open the decap object");
		err = pin_maps_under(skel->obj, dir);
		if (!err)
			err = decap_bpf__load(skel);
		if (!err) {
			path_of(p, sizeof(p), dir, LB_PIN_DECAP_PROG);
			err = bpf_program__pin(skel->progs.xdp_decap, p);
		}
		decap_bpf__destroy(skel);
		if (err)
			return lb_msgf(msg, len, err, "loading the decap program failed: %s",
				    strerror(-err));
	}
	path_of(p, sizeof(p), dir, lb_map_name(LB_M_DECAP_ADDRS));
	fd = bpf_obj_get(p);
	if (fd < 0)
		return lb_msgf(msg, len, -errno, "cannot open %s: %s", p, strerror(errno));
	err = decap_fill_addrs(fd, ifname);
	close(fd);
	if (err <= 0)
		return lb_msgf(msg, len, err ? err : -EADDRNOTAVAIL,
			    "%s has no addresses to decapsulate for", ifname);
	err = attach_prog(dir, LB_PIN_DECAP_PROG, ifname, mode, force, msg, len);
	if (err) {
		char names[1][16];

		if (!list_links(dir, names, 1))
			remove_pins(dir); /* attached nowhere: leave nothing */
		rmdir(dp->dir);       /* only if it is empty */
	}
	return err;
}

int lb_dp_decap_detach(struct lb_dp *dp, const char *ifname, char *msg,
		       size_t len)
{
	char dir[512], names[1][16];
	int err;

	path_of(dir, sizeof(dir), dp->dir, LB_PIN_DECAP_DIR);
	err = detach_link(dir, ifname, msg, len, "decap");
	if (!err && !list_links(dir, names, 1))
		remove_pins(dir); /* the last one: nothing of decap stays */
	return err;
}
