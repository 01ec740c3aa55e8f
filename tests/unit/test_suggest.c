/* test_suggest.c: "did you mean" (suggest.h): the closest known name by
 * edit distance, case insensitive, only when close enough to be a typo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/core/suggest.h"

static void test_table(void **state)
{
	static const char *const known[] = { "speed", "speed_displayed",
					     "gear", "bitrate", "restart_ms",
					     "settle_ms", "stale_ms", "bus" };
	static const struct {
		const char *word;
		const char *want; /* NULL: no suggestion */
	} cases[] = {
		{ "sped", "speed" },        /* one deletion */
		{ "spede", "speed" },       /* an adjacent swap is one edit */
		{ "Speed", "speed" },       /* case only */
		{ "geer", "gear" },
		{ "bitrat", "bitrate" },
		{ "setle_ms", "settle_ms" },
		{ "stael_ms", "stale_ms" },
		{ "sepdd", NULL },          /* two edits: len 5 allows 1 */
		{ "buss", "bus" },
		{ "xyz", NULL },            /* nothing close */
		{ "temperature", NULL },
		{ "gear", NULL },           /* known names are not suggested */
		{ "", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct suggest s;
		const char *got;

		suggest_init(&s, cases[i].word);
		for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			suggest_offer(&s, known[k]);
		got = suggest_result(&s);
		if (cases[i].want ? !got || strcmp(got, cases[i].want)
				  : got != NULL)
			fail_msg("'%s': got %s, want %s", cases[i].word,
				 got ? got : "nothing",
				 cases[i].want ? cases[i].want : "nothing");
	}
}

static void test_hint(void **state)
{
	struct suggest s;
	char buf[64];

	(void)state;
	suggest_init(&s, "sped");
	suggest_offer(&s, "speed");
	assert_string_equal(suggest_hint(&s, buf, sizeof(buf)),
			    " (did you mean 'speed'?)");
	suggest_init(&s, "qqqq");
	suggest_offer(&s, "speed");
	assert_string_equal(suggest_hint(&s, buf, sizeof(buf)), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_hint),
	};
	return cmocka_run_group_tests_name("suggest", tests, NULL, NULL);
}
