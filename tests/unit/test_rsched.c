/* test_rsched.c - the engine's bandwidth schedule (agent/rsched.c): what
 * rate holds when, every refusal with its column and sentence, and the
 * config reader refusing a bad schedule at its line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "diag.h"
#include "rsched.h"

#define D	86400u
#define H	3600u
#define M	60u
#define MON	0u
#define TUE	1u
#define FRI	4u
#define SAT	5u
#define SUN	6u
#define OUT	12345u	/* rate_limit outside the windows */

static uint64_t
rate_at(const struct rsched *s, uint32_t day, uint32_t h, uint32_t m,
    int *inside)
{
	return rsched_rate(s, day * D + h * H + m * M, OUT, inside);
}

static void
test_design_example(void)
{
	struct rsched s;
	char err[512];
	int in;

	CHECK_INT(rsched_parse("Mon-Fri 08:00-18:00 2M; Sat-Sun 0", &s, err,
	    sizeof(err), NULL), 0);
	CHECK_INT(rate_at(&s, MON, 8, 0, &in), 2 << 20);
	CHECK_INT(in, 1);
	CHECK_INT(rate_at(&s, MON, 7, 59, &in), OUT);
	CHECK_INT(in, 0);
	CHECK_INT(rsched_rate(&s, FRI * D + 18 * H - 1, OUT, NULL), 2 << 20);
	CHECK_INT(rsched_rate(&s, FRI * D + 18 * H, OUT, NULL), OUT);
	/* Weekend: unlimited all day, inside a window. */
	CHECK_INT(rate_at(&s, SAT, 0, 0, &in), 0);
	CHECK_INT(in, 1);
	CHECK_INT(rate_at(&s, SUN, 23, 59, &in), 0);
	CHECK_INT(in, 1);
	CHECK_INT(rate_at(&s, TUE, 12, 0, NULL), 2 << 20);
	CHECK_INT(rate_at(&s, TUE, 20, 0, NULL), OUT);
	rsched_free(&s);
}

static void
test_forms(void)
{
	struct rsched s;
	char err[512];

	/* Midnight crossing, list of days, any case, trailing ';',
	 * 24:00, k/K, whitespace. */
	CHECK_INT(rsched_parse("  fri 22:00-06:00 512k ;mon,WED 00:00-24:00 "
	    "1K;; ", &s, err, sizeof(err), NULL), 0);
	CHECK_INT(rate_at(&s, FRI, 23, 0, NULL), 512 << 10);
	CHECK_INT(rate_at(&s, SAT, 5, 59, NULL), 512 << 10);
	CHECK_INT(rate_at(&s, SAT, 6, 0, NULL), OUT);
	CHECK_INT(rate_at(&s, MON, 0, 0, NULL), 1024);
	CHECK_INT(rate_at(&s, 2, 23, 59, NULL), 1024);
	CHECK_INT(rate_at(&s, TUE, 12, 0, NULL), OUT);
	rsched_free(&s);
	/* Sunday night into Monday morning wraps the week. */
	CHECK_INT(rsched_parse("Sun 23:00-01:00 1G", &s, err, sizeof(err),
	    NULL), 0);
	CHECK_INT(rate_at(&s, SUN, 23, 30, NULL), 1 << 30);
	CHECK_INT(rate_at(&s, MON, 0, 30, NULL), 1 << 30);
	CHECK_INT(rate_at(&s, MON, 1, 0, NULL), OUT);
	rsched_free(&s);
	/* Fri-Mon wraps too; Daily is every day. */
	CHECK_INT(rsched_parse("Fri-Mon 10", &s, err, sizeof(err), NULL), 0);
	CHECK_INT(rate_at(&s, SUN, 12, 0, NULL), 10);
	CHECK_INT(rate_at(&s, MON, 12, 0, NULL), 10);
	CHECK_INT(rate_at(&s, TUE, 12, 0, NULL), OUT);
	rsched_free(&s);
	CHECK_INT(rsched_parse("Daily 09:00-10:00 7", &s, err, sizeof(err),
	    NULL), 0);
	CHECK_INT(rate_at(&s, SUN, 9, 30, NULL), 7);
	CHECK_INT(rate_at(&s, TUE, 9, 30, NULL), 7);
	CHECK_INT(s.n, 7);
	rsched_free(&s);
	/* Empty: no windows. */
	CHECK_INT(rsched_parse(" ; ", &s, err, sizeof(err), NULL), 0);
	CHECK_INT(s.n, 0);
	CHECK_INT(rate_at(&s, MON, 8, 0, NULL), OUT);
	rsched_free(&s);
	/* Adjacent windows do not overlap. */
	CHECK_INT(rsched_parse("Mon 08:00-12:00 1M; Mon 12:00-18:00 2M", &s,
	    err, sizeof(err), NULL), 0);
	CHECK_INT(rate_at(&s, MON, 11, 59, NULL), 1 << 20);
	CHECK_INT(rate_at(&s, MON, 12, 0, NULL), 2 << 20);
	rsched_free(&s);
}

/* text is refused; the message holds want, the column is col. */
static void
refused(const char *text, unsigned col, const char *want)
{
	struct rsched s;
	char err[512];
	unsigned c = 999;

	if (rsched_parse(text, &s, err, sizeof(err), &c) != -1) {
		fprintf(stderr, "accepted: %s\n", text);
		check_failures++;
		rsched_free(&s);
		return;
	}
	CHECK_HAS(err, want);
	if (c != col)
		fprintf(stderr, "%s: column %u, want %u (%s)\n", text, c, col,
		    err);
	CHECK_INT(c, col);
	CHECK(s.v == NULL && s.n == 0);
}

static void
test_refusals(void)
{
	refused("Mon-Fri 08:00-18:00 2M; Mon 17:00-19:00 1M", 25,
	    "entry 2 ('Mon 17:00-19:00 1M'), column 25: overlaps entry 1 "
	    "from Mon 17:00 to Mon 18:00");
	refused("Sun 22:00-02:00 1M; Mon 01:00-03:00 1M", 21,
	    "overlaps entry 1 from Mon 01:00 to Mon 02:00");
	refused("Mon,Mon 1M", 5, "Mon is named twice");
	refused("Mon-Fri 08:00-18:00 2M; Sat-Snu 0", 29,
	    "'Snu' is not a day; write a range of two days");
	refused("Mo 1M", 1, "'Mo' is not a day");
	refused("Mon 25:00-26:00 1M", 5, "25:00 is not a time of day; write "
	    "00:00 to 23:59");
	refused("Mon 08:00-23:60 1M", 14, "minute 60 is out of range");
	refused("Mon 08:00-24:30 1M", 11, "24:30 is not a time of day");
	refused("Mon 24:00-08:00 1M", 5, "(24:00 only as the end");
	refused("Mon 8:00-18:00 1M", 5, "'8:00' is not a time; write HH:MM");
	refused("Mon 08:00 1M", 5, "is not a time range");
	refused("Mon 08:00-08:00 1M", 5, "is empty");
	refused("Mon 08:00-18:00 2X", 17, "'2X' is not a rate");
	refused("Mon 08:00-18:00 -1", 17, "'-1' is not a rate");
	refused("Mon 99999999999999999999", 5, "is not a rate");
	refused("Mon 08:00-18:00 2M extra", 20, "one word too many");
	refused("Mon", 1, "an entry needs days and a rate");
	refused("Mon,", 1, "an entry needs days and a rate");
	refused("Mon, 1M", 4, "a day list ends with ','");
	refused("Mon\n1M", 4, "control character");
}

static void
test_limits(void)
{
	struct rsched s;
	char *big, err[512];
	size_t i, n = 0;

	big = malloc(RSCHED_MAX_TEXT + 100);
	/* 65 entries, none overlapping. */
	for (i = 0; i < 65; i++)
		n += (size_t)snprintf(big + n, RSCHED_MAX_TEXT + 100 - n,
		    "Mon %02zu:%02zu-%02zu:%02zu 1;", i / 4 + 1, (i % 4) * 10,
		    i / 4 + 1, (i % 4) * 10 + 5);
	CHECK_INT(rsched_parse(big, &s, err, sizeof(err), NULL), -1);
	CHECK_HAS(err, "more than 64 entries");
	memset(big, ' ', RSCHED_MAX_TEXT + 1);
	big[RSCHED_MAX_TEXT + 1] = '\0';
	CHECK_INT(rsched_parse(big, &s, err, sizeof(err), NULL), -1);
	CHECK_HAS(err, "characters long");
	free(big);
}

static void
test_moment(void)
{
	CHECK_INT(rsched_parse_moment("Mon 07:59:58"), 7 * H + 59 * M + 58);
	CHECK_INT(rsched_parse_moment("sun 23:59:59"), 7 * D - 1);
	CHECK_INT(rsched_parse_moment("Mon 24:00:00"), -1);
	CHECK_INT(rsched_parse_moment("Xyz 01:00:00"), -1);
	CHECK_INT(rsched_parse_moment("Mon 01:00"), -1);
	/* 2026-12-07 was a Monday; at noon UTC, in UTC. */
	setenv("TZ", "UTC", 1);
	CHECK_INT(rsched_week_second((time_t)1796644800), 12 * H);
	CHECK_INT(rsched_week_second((time_t)1796644800 + 6 * D + H),
	    6 * D + 13 * H);
}

/* The config reader refuses a bad schedule at its line, names the key,
 * and keeps a good one as written. */
static void
test_config(void)
{
	char dir[] = "/tmp/bitsync-test-rsched-XXXXXX", path[256];
	struct config cfg;
	struct diags d;
	FILE *fp;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(path, sizeof(path), "%s/bitsync.ini", dir);
	fp = fopen(path, "w");
	fputs("[agent]\ninterval = 15m\n[engine]\nrate_limit = 1M\n"
	    "rate_schedule = Mon-Fri 08:00-18:00 2M; Sat-Sun 25:00-26:00 0\n",
	    fp);
	fclose(fp);
	config_defaults(&cfg);
	diags_init(&d);
	CHECK_INT(config_load(&cfg, path, 0, &d), -1);
	CHECK_INT(d.n, 1);
	if (d.n == 1) {
		CHECK_STR(d.v[0].file, path);
		CHECK_INT(d.v[0].line, 5);
		CHECK_HAS(d.v[0].message, "rate_schedule: entry 2 "
		    "('Sat-Sun 25:00-26:00 0'), column 33: 25:00 is not a "
		    "time of day");
	}
	CHECK(cfg.rate_schedule == NULL);
	diags_free(&d);

	fp = fopen(path, "w");
	fputs("[engine]\nrate_schedule = Mon-Fri 08:00-18:00 2M; Sat-Sun 0\n"
	    "max_files_per_job = 3\nmax_jobs = 2\n", fp);
	fclose(fp);
	diags_init(&d);
	CHECK_INT(config_load(&cfg, path, 0, &d), 0);
	CHECK_INT(d.n, 0);
	CHECK_STR(cfg.rate_schedule, "Mon-Fri 08:00-18:00 2M; Sat-Sun 0");
	CHECK_INT(cfg.max_files_per_job, 3);
	CHECK_INT(cfg.max_jobs, 2);
	config_free(&cfg);
	diags_free(&d);
	/* The defaults are BITS's. */
	CHECK(cfg.rate_schedule == NULL);
	CHECK_INT(cfg.max_files_per_job, 200);
	CHECK_INT(cfg.max_jobs, 300);

	fp = fopen(path, "w");
	fputs("[engine]\nmax_files_per_job = 0\n", fp);
	fclose(fp);
	diags_init(&d);
	CHECK_INT(config_load(&cfg, path, 0, &d), -1);
	CHECK_INT(d.n, 1);
	if (d.n == 1) {
		CHECK_INT(d.v[0].line, 2);
		CHECK_HAS(d.v[0].message, "max_files_per_job: '0' is not a "
		    "whole number from 1");
	}
	diags_free(&d);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	test_design_example();
	test_forms();
	test_refusals();
	test_limits();
	test_moment();
	test_config();
	return check_done();
}
