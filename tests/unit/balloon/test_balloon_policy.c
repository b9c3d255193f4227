/*
 * The Dynamic Memory policy as a pure function: a table of one-interval
 * scenarios (clamps, buffer, weights under pressure, PSI), then sequences
 * for the hysteresis.
 */
#include <check.h>
#include <stdlib.h>

#include "policy.h"

#define M (1ull << 20)
#define G (1ull << 30)
#define MAXVM 3

struct vmrow {
	uint64_t min, max, current;
	uint32_t buffer, weight;
	bool stats;
	uint64_t total, avail;
	double want_mib;	/* expected target */
};

struct scenario {
	const char *name;
	uint64_t host_avail;
	uint32_t psi;
	bool short_expected;
	struct vmrow vm[MAXVM];
};

/* Host reserve is 256 MiB by default: budget = avail − 256M + Σ current. */
static const struct scenario table[] = {
	{ "buffer 20% over demand", 64 * G, 0, false,
	  { { 256 * M, 4 * G, 2 * G, 20, 5000, true, 2 * G, 1 * G, 1024 * 1.2 } } },
	{ "minimum clamps", 64 * G, 0, false,
	  { { 512 * M, 4 * G, 2 * G, 20, 5000, true, 2 * G, 2 * G - 100 * M, 512 } } },
	{ "maximum clamps", 64 * G, 0, false,
	  { { 256 * M, 4 * G, 2 * G, 20, 5000, true, 8 * G, 8 * G - 3900 * M, 4096 } } },
	{ "buffer 2000%", 64 * G, 0, false,
	  { { 0, 8 * G, 2 * G, 2000, 5000, true, 2 * G, 2 * G - 100 * M, 2100 } } },
	{ "free stands in for a missing available", 64 * G, 0, false,
	  { { 0, 8 * G, 2 * G, 50, 5000, true, 2 * G, 0, 0 } } },	/* patched below */
	{ "no stats keeps the current target", 64 * G, 0, false,
	  { { 256 * M, 4 * G, 1 * G, 20, 5000, false, 0, 0, 1024 } } },
	{ "weights 2:1 share the extra under pressure", 1 * G + 256 * M, 0, true,
	  { { 256 * M, 4 * G, 2 * G, 20, 10000, true, 8 * G, 0, 256 + 3072 },
	    { 256 * M, 4 * G, 2 * G, 20, 5000, true, 8 * G, 0, 256 + 1536 } } },
	{ "a capped VM leaves the rest to the others", 256 * M, 0, true,
	  { { 256 * M, 1 * G, 1 * G + 512 * M, 20, 9000, true, 8 * G, 0, 1024 },
	    { 256 * M, 4 * G, 1 * G + 512 * M, 20, 1000, true, 8 * G, 0, 2048 } } },
	{ "weight 0 only gets the leftovers", 256 * M, 0, true,
	  { { 256 * M, 1 * G, 1 * G, 20, 5000, true, 8 * G, 0, 1024 },
	    { 256 * M, 2 * G, 1 * G, 20, 0, true, 8 * G, 0, 1024 } } },
	{ "below the minimums everyone gets the minimum", 0, 0, true,
	  { { 512 * M, 4 * G, 256 * M, 20, 5000, true, 8 * G, 0, 512 },
	    { 512 * M, 4 * G, 256 * M, 20, 5000, true, 8 * G, 0, 512 } } },
	{ "PSI shrinks what the VMs hold by 5%", 64 * G, 200, true,
	  { { 256 * M, 4 * G, 2 * G, 20, 5000, false, 0, 0, 2048 * 0.95 },
	    { 256 * M, 4 * G, 2 * G, 20, 5000, false, 0, 0, 2048 * 0.95 } } },
	{ "three VMs 1:2:5 within the budget", 256 * M, 0, true,
	  { { 0, 8 * G, 1 * G, 20, 1000, true, 16 * G, 0, 3072.0 * 1 / 8 },
	    { 0, 8 * G, 1 * G, 20, 2000, true, 16 * G, 0, 3072.0 * 2 / 8 },
	    { 0, 8 * G, 1 * G, 20, 5000, true, 16 * G, 0, 3072.0 * 5 / 8 } } },
};

static size_t fill(const struct scenario *s, struct dm_policy_vm *vms)
{
	size_t n = 0;
	for (; n < MAXVM && s->vm[n].max; n++) {
		const struct vmrow *r = &s->vm[n];
		vms[n] = (struct dm_policy_vm){ .minimum = r->min, .maximum = r->max,
						.buffer_pct = r->buffer, .weight = r->weight,
						.have_stats = r->stats, .total = r->total,
						.available = r->avail, .current = r->current };
	}
	return n;
}

START_TEST(test_table)
{
	const struct scenario *s = &table[_i];
	struct dm_policy_params p;
	struct dm_policy_vm vms[MAXVM];
	struct dm_policy_host host = { .mem_total = 128 * G, .mem_available = s->host_avail,
				       .psi_some_permille = s->psi };

	dm_policy_defaults(&p);
	size_t n = fill(s, vms);
	if (_i == 4) {	/* free-only guest: demand 1G, ×1.5 */
		vms[0].free = 1 * G;
		vms[0].available = 0;
	}
	bool shrt = dm_policy_run(&p, &host, vms, n);
	ck_assert_msg(shrt == s->short_expected, "%s: short=%d", s->name, shrt);
	for (size_t i = 0; i < n; i++) {
		double want = _i == 4 ? 1536 : s->vm[i].want_mib;
		double got = (double)vms[i].target / M;
		ck_assert_msg(got > want * 0.999 - 0.01 && got < want * 1.001 + 0.01,
			      "%s: vm%zu target %.2f MiB, want %.2f", s->name, i, got, want);
		ck_assert(vms[i].target >= vms[i].minimum && vms[i].target <= vms[i].maximum);
	}
}
END_TEST

/* Under pressure the extra above the minimums follows the weights within 5 %. */
START_TEST(test_weights_within_5pct)
{
	struct dm_policy_params p;
	struct dm_policy_host host = { .mem_total = 32 * G, .mem_available = 300 * M };
	struct dm_policy_vm vms[2] = {
		{ .minimum = 512 * M, .maximum = 16 * G, .buffer_pct = 20, .weight = 7500,
		  .have_stats = true, .total = 16 * G, .available = 1 * G, .current = 3 * G },
		{ .minimum = 512 * M, .maximum = 16 * G, .buffer_pct = 20, .weight = 2500,
		  .have_stats = true, .total = 16 * G, .available = 1 * G, .current = 3 * G },
	};

	dm_policy_defaults(&p);
	ck_assert(dm_policy_run(&p, &host, vms, 2));
	double a = (double)(vms[0].target - vms[0].minimum);
	double b = (double)(vms[1].target - vms[1].minimum);
	ck_assert_double_gt(b, 0);
	ck_assert_double_lt(a / b, 3.0 * 1.05);
	ck_assert_double_gt(a / b, 3.0 * 0.95);
	/* and the budget is spent, not more */
	uint64_t sum = vms[0].target + vms[1].target;
	ck_assert_uint_le(sum, 6 * G + 300 * M - 256 * M);
	ck_assert_uint_ge(sum, 6 * G + 300 * M - 256 * M - 2);
}
END_TEST

/*
 * A grow not reached yet is not memory the host has handed out: the budget
 * counts each VM at min(target, what it holds).  Both VMs' targets say
 * 2 GiB, but the first still holds only 1 GiB (its balloon has not
 * deflated): MemAvailable 1.256 GiB − reserve leaves 1 GiB + 1 GiB + 2 GiB
 * = 4 GiB, not 5 GiB, so two guests wanting 3 GiB each are short.
 */
START_TEST(test_budget_counts_what_guests_hold)
{
	struct dm_policy_params p;
	struct dm_policy_host host = { .mem_total = 32 * G, .mem_available = 1 * G + 256 * M };
	struct dm_policy_vm vms[2] = {
		{ .minimum = 512 * M, .maximum = 8 * G, .buffer_pct = 20, .weight = 5000,
		  .have_stats = true, .total = 2560 * M, .available = 1, .current = 2 * G,
		  .held = 1 * G },
		{ .minimum = 512 * M, .maximum = 8 * G, .buffer_pct = 20, .weight = 5000,
		  .have_stats = true, .total = 2560 * M, .available = 1, .current = 2 * G,
		  .held = 2 * G },
	};

	dm_policy_defaults(&p);
	ck_assert(dm_policy_run(&p, &host, vms, 2));
	ck_assert_uint_le(vms[0].target + vms[1].target, 4 * G);
	ck_assert_uint_ge(vms[0].target + vms[1].target, 4 * G - 2);
	/* counted at its target (what the old policy did) it would have been 5 GiB */
	vms[0].held = 0;
	vms[0].current = vms[1].current = 2 * G;
	vms[0].last_dir = vms[1].last_dir = 0;
	dm_policy_run(&p, &host, vms, 2);
	ck_assert_uint_gt(vms[0].target + vms[1].target, 4 * G + 512 * M);
}
END_TEST

static struct dm_policy_host roomy = { .mem_total = 128 * G, .mem_available = 64 * G };

/* A guest whose demand makes desired = @mib MiB at buffer 0... 5 %. */
static void demand(struct dm_policy_vm *v, uint64_t bytes)
{
	v->have_stats = true;
	v->buffer_pct = 5;
	v->total = 64 * G;
	v->available = 64 * G - bytes * 100 / 105;
}

START_TEST(test_hysteresis_small_steps)
{
	struct dm_policy_params p;
	struct dm_policy_vm v = { .minimum = 0, .maximum = 32 * G, .weight = 5000,
				  .current = 1 * G };

	dm_policy_defaults(&p);
	demand(&v, 1 * G + 3 * M);	/* < 4 MiB */
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(!v.changed);
	ck_assert_uint_eq(v.target, 1 * G);
	demand(&v, 1 * G + 15 * M);	/* > 4 MiB, < 2 % of 1 GiB */
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(!v.changed);
	demand(&v, 1 * G + 30 * M);	/* > 2 % */
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(v.changed);
	ck_assert_uint_gt(v.target, 1 * G + 29 * M);
}
END_TEST

START_TEST(test_hysteresis_no_quick_reversal)
{
	struct dm_policy_params p;
	struct dm_policy_vm v = { .minimum = 0, .maximum = 32 * G, .weight = 5000,
				  .current = 1 * G };

	dm_policy_defaults(&p);
	demand(&v, 2 * G);
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(v.changed);
	ck_assert_int_eq(v.last_dir, 1);
	/* The guest idles at once: no shrink for reverse_hold intervals. */
	demand(&v, 1 * G);
	for (uint32_t i = 1; i < p.reverse_hold; i++) {
		dm_policy_run(&p, &roomy, &v, 1);
		ck_assert_msg(!v.changed, "reversed after %u intervals", i);
		ck_assert_uint_ge(v.target, 2 * G - 1);
	}
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(v.changed);
	ck_assert_uint_lt(v.target, 1 * G + 1 * M);
	ck_assert_int_eq(v.last_dir, -1);
	/* Growing further in the same direction needs no wait. */
	demand(&v, 512 * M);
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(v.changed);
}
END_TEST

START_TEST(test_hysteresis_pressure_wins)
{
	struct dm_policy_params p;
	struct dm_policy_vm v = { .minimum = 256 * M, .maximum = 32 * G, .weight = 5000,
				  .current = 1 * G };
	struct dm_policy_host tight = { .mem_total = 8 * G, .mem_available = 0,
					.psi_some_permille = 300 };

	dm_policy_defaults(&p);
	demand(&v, 2 * G);
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(v.changed);
	/* Right after growing, the host stalls: the shrink is not held back,
	 * even by less than the 2 % step. */
	ck_assert(dm_policy_run(&p, &tight, &v, 1));
	ck_assert(v.changed);
	ck_assert_uint_lt(v.target, 2 * G);
}
END_TEST

START_TEST(test_first_target_always_applies)
{
	struct dm_policy_params p;
	struct dm_policy_vm v = { .minimum = 0, .maximum = 4 * G, .weight = 5000 };

	dm_policy_defaults(&p);
	demand(&v, 1 * G);
	dm_policy_run(&p, &roomy, &v, 1);
	ck_assert(v.changed);
	ck_assert_uint_eq(v.current, v.target);
	ck_assert_uint_gt(v.target, 1 * G - 1 * M);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("balloon_policy");
	TCase *tc = tcase_create("policy");

	tcase_add_loop_test(tc, test_table, 0, (int)(sizeof(table) / sizeof(table[0])));
	tcase_add_test(tc, test_weights_within_5pct);
	tcase_add_test(tc, test_budget_counts_what_guests_hold);
	tcase_add_test(tc, test_hysteresis_small_steps);
	tcase_add_test(tc, test_hysteresis_no_quick_reversal);
	tcase_add_test(tc, test_hysteresis_pressure_wins);
	tcase_add_test(tc, test_first_target_always_applies);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
