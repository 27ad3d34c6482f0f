/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * test_maps.c - the table of maps (include/lb_map_table.h) against the
 * BPF objects it describes, bpf/lb.bpf.c and bpf/decap.bpf.c.
 *
 * Fails when a map of an object has no line in the table, when a line
 * names a map its object lacks (or puts it in the other object), when a
 * key or value size differs from the object's, when two lines share a
 * name, or when lb_dp would open a map of decap or one of unknown size.
 * The objects are opened through their skeletons, not loaded: no root.
 * The checker is itself tested on altered copies of the table (each line
 * dropped, a line added, each size changed), so it cannot pass by
 * checking nothing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <bpf/libbpf.h>

#include "lb_map_table.h"
#include "lb.skel.h"
#include "decap.skel.h"

static const char *const object_src[] = {
	[LB_MAP_OBJ_LB] = "bpf/lb.bpf.c",
	[LB_MAP_OBJ_DECAP] = "bpf/decap.bpf.c",
};
#define N_OBJECTS 2

struct objects {
	struct lb_bpf *lb;
	struct decap_bpf *decap;
	struct bpf_object *obj[N_OBJECTS]; /* by enum lb_map_object */
};

/* Appends one line to why[len] and counts it. */
static void differ(int *n, char *why, size_t len, const char *fmt, ...)
{
	size_t used = strlen(why);
	va_list ap;

	(*n)++;
	if (used >= len - 1)
		return;
	va_start(ap, fmt);
	vsnprintf(why + used, len - used, fmt, ap);
	va_end(ap);
	used = strlen(why);
	if (used < len - 1)
		strcpy(why + used, "\n");
}

static const struct lb_map_desc *find(const struct lb_map_desc *table, int n,
				      const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(table[i].name, name))
			return &table[i];
	return NULL;
}

/*
 * How many ways table[n] and the objects disagree; each one a line in
 * why[len]. Every map of an object counts, global-data maps (.bss,
 * .rodata) included: attach would pin them too, and unload removes only
 * what the table names.
 */
static int compare(const struct lb_map_desc *table, int n,
		   struct bpf_object *const obj[N_OBJECTS], char *why,
		   size_t len)
{
	const struct lb_map_desc *t;
	struct bpf_map *map;
	int diffs = 0;

	why[0] = 0;
	for (int o = 0; o < N_OBJECTS; o++) {
		bpf_object__for_each_map(map, obj[o]) {
			const char *name = bpf_map__name(map);

			t = find(table, n, name);
			if (!t) {
				differ(&diffs, why, len,
				       "%s: map %s is missing from LB_MAP_TABLE",
				       object_src[o], name);
				continue;
			}
			if (t->object != (enum lb_map_object)o)
				differ(&diffs, why, len,
				       "%s: defined in %s, the table says %s",
				       name, object_src[o], object_src[t->object]);
			if (t->key_size != bpf_map__key_size(map))
				differ(&diffs, why, len,
				       "%s: key size %u in %s, %u in the table",
				       name, bpf_map__key_size(map),
				       object_src[o], t->key_size);
			/* 0: LB_MAP_PRIVATE, a struct userspace lacks */
			if (t->value_size &&
			    t->value_size != bpf_map__value_size(map))
				differ(&diffs, why, len,
				       "%s: value size %u in %s, %u in the table",
				       name, bpf_map__value_size(map),
				       object_src[o], t->value_size);
		}
	}
	for (int i = 0; i < n; i++) {
		t = &table[i];
		if (find(table, i, t->name))
			differ(&diffs, why, len, "%s: listed twice", t->name);
		if (t->object >= N_OBJECTS ||
		    !bpf_object__find_map_by_name(obj[t->object], t->name)) {
			differ(&diffs, why, len,
			       "%s: in LB_MAP_TABLE but not a map of %s", t->name,
			       t->object < N_OBJECTS ? object_src[t->object] : "any object");
			continue;
		}
		/* lb_dp_open opens maps from the pin directory itself, and
		 * checks their sizes */
		if (t->opened && t->object != LB_MAP_OBJ_LB)
			differ(&diffs, why, len,
			       "%s: lb_dp opens it, but it is pinned under decap/",
			       t->name);
		if (t->opened && !t->value_size)
			differ(&diffs, why, len,
			       "%s: lb_dp opens it, so its value type must be known",
			       t->name);
	}
	return diffs;
}

static int setup(void **state)
{
	static struct objects o;

	o.lb = lb_bpf__open();
	o.decap = decap_bpf__open();
	if (!o.lb || !o.decap) {
		fprintf(stderr, "cannot open the BPF objects: %s\n", strerror(errno));
		return -1;
	}
	o.obj[LB_MAP_OBJ_LB] = o.lb->obj;
	o.obj[LB_MAP_OBJ_DECAP] = o.decap->obj;
	*state = &o;
	return 0;
}

static int teardown(void **state)
{
	struct objects *o = *state;

	lb_bpf__destroy(o->lb);
	decap_bpf__destroy(o->decap);
	return 0;
}

/* ---- the table itself --------------------------------------------------- */

static void test_table_matches_objects(void **state)
{
	struct objects *o = *state;
	char why[4096];
	int diffs = compare(lb_map_table, LB_M_COUNT, o->obj, why, sizeof(why));

	if (diffs)
		fprintf(stderr, "LB_MAP_TABLE and the BPF objects differ:\n%s", why);
	assert_int_equal(diffs, 0);
}

/* The enum and the names come from the same lines, in order. */
static void test_derived_names(void **state)
{
	(void)state;
	assert_string_equal(lb_map_name(LB_M_META), "lb_meta");
	assert_string_equal(lb_map_name(LB_M_SETTINGS), "lb_settings");
	assert_string_equal(lb_map_name(LB_M_BE_STATS), "lb_be_stats");
	assert_string_equal(lb_map_name(LB_M_DECAP_ADDRS), "lb_decap_addrs");
	assert_int_equal(lb_map_table[LB_M_RINGS].value_size, 4); /* an fd/id */
	assert_int_equal(lb_map_table[LB_M_VIP_STATS].value_size,
			 sizeof(struct lb_counters)); /* one CPU's */
	assert_true(lb_map_table[LB_M_BE_LOAD].opened);
	assert_false(lb_map_table[LB_M_SCRATCH].opened);
	for (int i = 0; i < LB_M_COUNT; i++)
		assert_non_null(lb_map_table[i].name);
}

/* ---- the checker finds what it is for ----------------------------------- */

static void test_dropped_line_detected(void **state)
{
	struct objects *o = *state;
	struct lb_map_desc t[LB_M_COUNT];
	char why[4096];

	for (int drop = 0; drop < LB_M_COUNT; drop++) {
		int n = 0;

		for (int i = 0; i < LB_M_COUNT; i++)
			if (i != drop)
				t[n++] = lb_map_table[i];
		assert_int_equal(compare(t, n, o->obj, why, sizeof(why)), 1);
		assert_non_null(strstr(why, lb_map_table[drop].name));
		assert_non_null(strstr(why, "missing from LB_MAP_TABLE"));
	}
}

static void test_extra_line_detected(void **state)
{
	struct objects *o = *state;
	struct lb_map_desc t[LB_M_COUNT + 1];
	char why[4096];

	memcpy(t, lb_map_table, sizeof(lb_map_table));
	t[LB_M_COUNT] = (struct lb_map_desc){
		.name = "lb_gone", .key_size = 4, .value_size = 4,
		.object = LB_MAP_OBJ_LB,
	};
	assert_int_equal(compare(t, LB_M_COUNT + 1, o->obj, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "lb_gone: in LB_MAP_TABLE but not a map of"));

	/* a real map put in the other object */
	memcpy(t, lb_map_table, sizeof(lb_map_table));
	t[LB_M_DECAP_STATS].object = LB_MAP_OBJ_LB;
	assert_true(compare(t, LB_M_COUNT, o->obj, why, sizeof(why)) >= 1);
	assert_non_null(strstr(why, "lb_decap_stats"));

	/* one name twice */
	memcpy(t, lb_map_table, sizeof(lb_map_table));
	t[LB_M_COUNT] = lb_map_table[LB_M_VIPS];
	assert_int_equal(compare(t, LB_M_COUNT + 1, o->obj, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "lb_vips: listed twice"));
}

static void test_size_difference_detected(void **state)
{
	struct objects *o = *state;
	struct lb_map_desc t[LB_M_COUNT];
	char why[4096];

	for (int i = 0; i < LB_M_COUNT; i++) {
		memcpy(t, lb_map_table, sizeof(lb_map_table));
		t[i].key_size += 4;
		assert_int_equal(compare(t, LB_M_COUNT, o->obj, why, sizeof(why)), 1);
		assert_non_null(strstr(why, "key size"));
		assert_non_null(strstr(why, lb_map_table[i].name));

		memcpy(t, lb_map_table, sizeof(lb_map_table));
		t[i].value_size += 4;
		assert_int_equal(compare(t, LB_M_COUNT, o->obj, why, sizeof(why)), 1);
		assert_non_null(strstr(why, "value size"));
		assert_non_null(strstr(why, lb_map_table[i].name));
	}
}

static void test_opened_rules_detected(void **state)
{
	struct objects *o = *state;
	struct lb_map_desc t[LB_M_COUNT];
	char why[4096];

	memcpy(t, lb_map_table, sizeof(lb_map_table));
	t[LB_M_DECAP_ADDRS].opened = true;
	assert_int_equal(compare(t, LB_M_COUNT, o->obj, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "lb_decap_addrs: lb_dp opens it"));

	memcpy(t, lb_map_table, sizeof(lb_map_table));
	t[LB_M_SCRATCH].opened = true;
	assert_int_equal(compare(t, LB_M_COUNT, o->obj, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "lb_scratch: lb_dp opens it"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_matches_objects),
		cmocka_unit_test(test_derived_names),
		cmocka_unit_test(test_dropped_line_detected),
		cmocka_unit_test(test_extra_line_detected),
		cmocka_unit_test(test_size_difference_detected),
		cmocka_unit_test(test_opened_rules_detected),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
