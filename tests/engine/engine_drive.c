/* engine_drive.c - drives the engine backend from the command line, for
 * the engine tests and benchmarks (the reconciler comes later).
 *
 *   engine_drive -s STATE [-p N] [-r BPS] [-P SMBPORT] [-C CREDDIR]
 *       [-A CAFILE] [-Q REMOTE] [-F MAXFILES] [-J MAXJOBS] COMMAND ARGS
 *
 *   -F, -J: the engine's max_files_per_job and max_jobs (BITS's
 *       MaxFilesPerJob, MaxJobsPerMachine); default: no limit.
 *
 *   -Q REMOTE: while run or get transfers, once a job is TRANSFERRING,
 *       probe REMOTE from the main thread (as the daemon's refresh does)
 *       and print "probe_ms MS rc RC".
 *
 *   create [-n NAME] [-d DESC] [-y fg|high|normal|low] [-R RETRY]
 *       [-T NOPROGRESS] [-M MAXTIME] [-x PROXY] [-b BYPASS] [-N]
 *       [-H HEADER]... [-c CRED] [-t network,local_file] [-a]
 *       REMOTE LOCAL [REMOTE LOCAL...]           prints the new GUID
 *   resume|suspend|cancel|complete GUID...
 *   list                                         one JSON line per job
 *   temp GUID INDEX                              the temp file's path
 *   add GUID REMOTE LOCAL     AddFile on a SUSPENDED job: "add GUID RC [why]"
 *   probe [-c CRED] [-t network,local_file] REMOTE  validators as JSON
 *   run [-w SECS] [-k] [GUID...]   transfers (max_parallel workers,
 *       default 4); resumes the GUIDs given; prints "event MS GUID STATE"
 *       lines; returns when every job is TRANSFERRED or ERROR (or after
 *       SECS); then lists the jobs; -k completes the TRANSFERRED ones.
 *   get [create options] REMOTE LOCAL...   create + run -k for one job
 *
 * Exit: 0 when every job ended TRANSFERRED (or ACKNOWLEDGED with -k), 1
 * otherwise, 2 on usage errors. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"

static const struct backend_ops *ops = &engine_backend_ops;
static int evpipe[2] = { -1, -1 };
static const char *probe_during;	/* -Q */

struct ev {
	bk_guid id;
	enum bk_state state;
};

static void
usage(void)
{
	fprintf(stderr, "usage: engine_drive -s STATE [-p N] [-r BPS]"
	    " [-P SMBPORT] [-C CREDDIR] [-A CAFILE] COMMAND ...\n");
	exit(2);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
notify(void *ctx, const bk_guid *id, enum bk_state s)
{
	struct ev ev;

	(void)ctx;
	ev.id = *id;
	ev.state = s;
	/* A pipe write of this size is atomic; the callback must not block
	 * on anything of ours. */
	if (write(evpipe[1], &ev, sizeof(ev)) != (ssize_t)sizeof(ev))
		abort();
}

static void
json_str(const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void
json_u64(uint64_t v)
{
	if (v == BK_SIZE_UNKNOWN)
		fputs("null", stdout);
	else
		printf("%llu", (unsigned long long)v);
}

static void
print_job(const struct bk_job *j)
{
	char g[39];
	size_t k;

	bk_guid_format(&j->id, g);
	printf("{\"guid\":\"%s\",\"name\":", g);
	json_str(j->display_name);
	printf(",\"description\":");
	json_str(j->description);
	printf(",\"state\":\"%s\",\"priority\":%d,\"bytes_total\":",
	    bk_state_name(j->state), (int)j->priority);
	json_u64(j->bytes_total);
	printf(",\"bytes_transferred\":%llu,\"files_total\":%u,"
	    "\"files_transferred\":%u,\"error_count\":%u,\"error\":",
	    (unsigned long long)j->bytes_transferred, j->files_total,
	    j->files_transferred, j->error_count);
	if (j->has_error) {
		printf("{\"context\":\"%s\",\"context_code\":%d,"
		    "\"code\":\"0x%08X\",\"text\":",
		    bk_context_name(j->error.context), (int)j->error.context,
		    (unsigned)j->error.code);
		json_str(j->error.text);
		printf(",\"remote\":");
		json_str(j->error.remote);
		printf(",\"local\":");
		json_str(j->error.local);
		printf("}");
	} else
		printf("null");
	printf(",\"files\":[");
	for (k = 0; k < j->nfiles; k++) {
		const struct bk_file *f = &j->files[k];

		printf("%s{\"remote\":", k ? "," : "");
		json_str(f->remote);
		printf(",\"local\":");
		json_str(f->local);
		printf(",\"total\":");
		json_u64(f->bytes_total);
		printf(",\"done\":%llu,\"completed\":%d,\"size\":",
		    (unsigned long long)f->bytes_transferred, f->completed);
		json_u64(f->validators.size);
		printf(",\"mtime\":%lld,\"etag\":",
		    (long long)f->validators.mtime);
		json_str(f->validators.etag);
		printf(",\"last_modified\":");
		json_str(f->validators.last_modified);
		printf("}");
	}
	printf("]}\n");
}

static int
list(struct backend *b)
{
	struct bk_job *jobs = NULL;
	size_t n = 0, i;

	if (ops->list_jobs(b, &jobs, &n) != BK_OK)
		return 1;
	for (i = 0; i < n; i++)
		print_job(&jobs[i]);
	backend_free_jobs(jobs, n);
	fflush(stdout);
	return 0;
}

static enum bk_priority
parse_priority(const char *s)
{
	if (strcmp(s, "fg") == 0 || strcmp(s, "foreground") == 0)
		return BK_FOREGROUND;
	if (strcmp(s, "high") == 0)
		return BK_HIGH;
	if (strcmp(s, "low") == 0)
		return BK_LOW;
	return BK_NORMAL;
}

/* Parses create's options from argv (optind at the first); returns the
 * new job's GUID through id. */
static int
create(struct backend *b, int argc, char **argv, bk_guid *id)
{
	struct bk_job_spec spec;
	struct bk_file_spec *files;
	char headers[4096] = "";
	size_t n, i;
	int ch, rc;

	memset(&spec, 0, sizeof(spec));
	spec.display_name = "engine_drive";
	spec.priority = BK_NORMAL;
	spec.retry_delay = 600;
	spec.no_progress_timeout = 1209600;
	spec.proxy_usage = BK_PROXY_NO_PROXY;
	optind = 1;
	while ((ch = getopt(argc, argv, "n:d:y:R:T:M:x:b:NH:c:t:a")) != -1) {
		switch (ch) {
		case 'n': spec.display_name = optarg; break;
		case 'd': spec.description = optarg; break;
		case 'y': spec.priority = parse_priority(optarg); break;
		case 'R': spec.retry_delay = (uint32_t)atol(optarg); break;
		case 'T': spec.no_progress_timeout = (uint32_t)atol(optarg);
			break;
		case 'M': spec.max_download_time = (uint32_t)atol(optarg);
			break;
		case 'x':
			spec.proxy_usage = BK_PROXY_OVERRIDE;
			spec.proxy_list = optarg;
			break;
		case 'b': spec.proxy_bypass = optarg; break;
		case 'N': spec.proxy_usage = BK_PROXY_PRECONFIG; break;
		case 'H':
			if (headers[0])
				strncat(headers, "\r\n", sizeof(headers) -
				    strlen(headers) - 1);
			strncat(headers, optarg, sizeof(headers) -
			    strlen(headers) - 1);
			break;
		case 'c': spec.credential = optarg; break;
		case 't':
			if (strstr(optarg, "network"))
				spec.token_flags |= BK_TOKEN_NETWORK;
			if (strstr(optarg, "local"))
				spec.token_flags |= BK_TOKEN_LOCAL_FILE;
			break;
		case 'a': spec.auth_computer = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || argc % 2 != 0)
		usage();
	if (headers[0])
		spec.custom_headers = headers;
	n = (size_t)argc / 2;
	if ((files = calloc(n, sizeof(*files))) == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		files[i].remote = argv[2 * i];
		files[i].local = argv[2 * i + 1];
	}
	spec.files = files;
	spec.nfiles = n;
	rc = ops->create_job(b, &spec, id);
	free(files);
	if (rc != BK_OK) {
		fprintf(stderr, "engine_drive: create_job: %d%s%s\n", rc,
		    ops->last_error && ops->last_error(b) ? ": " : "",
		    ops->last_error && ops->last_error(b) ?
		    ops->last_error(b) : "");
		return 1;
	}
	return 0;
}

static int
settled(struct backend *b, int *all_ok)
{
	struct bk_job *jobs = NULL;
	size_t n = 0, i;
	int done = 1;

	*all_ok = 1;
	if (ops->list_jobs(b, &jobs, &n) != BK_OK)
		return 1;
	for (i = 0; i < n; i++) {
		if (jobs[i].state != BK_TRANSFERRED)
			*all_ok = 0;
		if (jobs[i].state != BK_TRANSFERRED &&
		    jobs[i].state != BK_ERROR &&
		    jobs[i].state != BK_SUSPENDED)
			done = 0;
	}
	backend_free_jobs(jobs, n);
	return done;
}

/* Prints the state changes the engine reported since the last call. */
static void
drain(long long start)
{
	struct pollfd pfd;
	struct ev ev;
	char g[39];

	pfd.fd = evpipe[0];
	pfd.events = POLLIN;
	while (poll(&pfd, 1, 0) > 0 &&
	    read(evpipe[0], &ev, sizeof(ev)) == (ssize_t)sizeof(ev)) {
		bk_guid_format(&ev.id, g);
		printf("event %lld %s %s\n", now_ms() - start, g,
		    bk_state_name(ev.state));
	}
	fflush(stdout);
}

/* Whether a job is transferring and has bytes (for -Q). */
static int
transferring(struct backend *b)
{
	struct bk_job *jobs = NULL;
	size_t n = 0, i;
	int yes = 0;

	if (ops->list_jobs(b, &jobs, &n) != BK_OK)
		return 0;
	for (i = 0; i < n; i++)
		if (jobs[i].state == BK_TRANSFERRING &&
		    jobs[i].bytes_transferred > 0)
			yes = 1;
	backend_free_jobs(jobs, n);
	return yes;
}

static int
run(struct backend *b, int secs, int complete, char **guids, int nguids)
{
	struct bk_job *jobs = NULL;
	struct pollfd pfd;
	bk_guid id;
	char g[39];
	long long start = now_ms(), deadline;
	size_t n = 0, i;
	int k, all_ok = 0, rc, ret = 1;

	/* Workers may have moved before set_notify: report where every job
	 * stands now, as events, so the stream starts complete. */
	if (ops->list_jobs(b, &jobs, &n) == BK_OK) {
		for (i = 0; i < n; i++) {
			bk_guid_format(&jobs[i].id, g);
			printf("event %lld %s %s\n", now_ms() - start, g,
			    bk_state_name(jobs[i].state));
		}
		backend_free_jobs(jobs, n);
		jobs = NULL;
	}
	for (k = 0; k < nguids; k++) {
		if (bk_guid_parse(guids[k], &id) != 0 ||
		    ops->resume(b, &id) != BK_OK) {
			fprintf(stderr, "engine_drive: cannot resume %s\n",
			    guids[k]);
			return 1;
		}
	}
	deadline = start + (long long)secs * 1000;
	pfd.fd = evpipe[0];
	pfd.events = POLLIN;
	for (;;) {
		drain(start);
		if (settled(b, &all_ok) || now_ms() >= deadline)
			break;
		if (probe_during != NULL && transferring(b)) {
			struct bk_job_spec ps;
			struct bk_probe p;
			struct bk_validators v;
			struct bk_error err;
			long long t0 = now_ms();

			memset(&ps, 0, sizeof(ps));
			memset(&p, 0, sizeof(p));
			memset(&v, 0, sizeof(v));
			memset(&err, 0, sizeof(err));
			ps.proxy_usage = BK_PROXY_NO_PROXY;
			p.remote = probe_during;
			p.settings = &ps;
			rc = ops->probe(b, &p, &v, &err);
			printf("probe_ms %lld rc %d\n", now_ms() - t0, rc);
			fflush(stdout);
			backend_free_validators(&v);
			backend_free_error(&err);
			probe_during = NULL;
		}
		poll(&pfd, 1, 50);
	}
	list(b);
	ret = all_ok ? 0 : 1;
	if (complete && ops->list_jobs(b, &jobs, &n) == BK_OK) {
		for (i = 0; i < n; i++) {
			if (jobs[i].state != BK_TRANSFERRED)
				continue;
			rc = ops->complete(b, &jobs[i].id);
			bk_guid_format(&jobs[i].id, g);
			printf("complete %s %d\n", g, rc);
			if (rc != BK_OK)
				ret = 1;
		}
		backend_free_jobs(jobs, n);
		drain(start);
	}
	printf("elapsed_ms %lld\n", now_ms() - start);
	fflush(stdout);
	return ret;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct backend *b = NULL;
	bk_guid id;
	char g[39], *path = NULL;
	const char *cmd;
	int ch, rc = 2, k, secs = 3600, complete = 0, parallel = -1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.smb_port = 445;
	while ((ch = getopt(argc, argv, "+s:p:r:P:C:A:Q:F:J:")) != -1) {
		switch (ch) {
		case 's': cfg.state_dir = optarg; break;
		case 'p': parallel = atoi(optarg); break;
		case 'r': cfg.rate_limit = strtoull(optarg, NULL, 10); break;
		case 'P': cfg.smb_port = (unsigned)atoi(optarg); break;
		case 'C': cfg.credential_dir = optarg; break;
		case 'A': cfg.ca_file = optarg; break;
		case 'Q': probe_during = optarg; break;
		case 'F': cfg.max_files_per_job = (unsigned)atoi(optarg); break;
		case 'J': cfg.max_jobs = (unsigned)atoi(optarg); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (cfg.state_dir == NULL || argc < 1)
		usage();
	cmd = argv[0];
	/* Only run and get transfer; the others open the store without
	 * workers so nothing moves while they look. */
	if (strcmp(cmd, "run") == 0 || strcmp(cmd, "get") == 0)
		cfg.max_parallel = parallel >= 0 ? (unsigned)parallel : 4;
	if (pipe2(evpipe, O_CLOEXEC) != 0)
		return 1;
	if ((rc = ops->open(&cfg, &b)) != BK_OK) {
		fprintf(stderr, "engine_drive: open: %d\n", rc);
		return rc == BK_E_UNAVAILABLE ? 69 : 74;
	}
	ops->set_notify(b, notify, NULL);
	rc = 1;
	if (strcmp(cmd, "create") == 0) {
		if ((rc = create(b, argc, argv, &id)) == 0) {
			bk_guid_format(&id, g);
			printf("%s\n", g);
		}
	} else if (strcmp(cmd, "get") == 0) {
		if (create(b, argc, argv, &id) == 0) {
			bk_guid_format(&id, g);
			printf("job %s\n", g);
			fflush(stdout);
			char *one[1] = { g };
			rc = run(b, secs, 1, one, 1);
		}
	} else if (strcmp(cmd, "run") == 0) {
		optind = 1;
		while ((ch = getopt(argc, argv, "w:k")) != -1) {
			if (ch == 'w')
				secs = atoi(optarg);
			else if (ch == 'k')
				complete = 1;
			else
				usage();
		}
		rc = run(b, secs, complete, argv + optind, argc - optind);
	} else if (strcmp(cmd, "list") == 0) {
		rc = list(b);
	} else if (strcmp(cmd, "temp") == 0 && argc == 3) {
		if (bk_guid_parse(argv[1], &id) == 0 && ops->temp_path(b, &id,
		    (size_t)atol(argv[2]), &path) == BK_OK) {
			printf("%s\n", path);
			free(path);
			rc = 0;
		}
	} else if (strcmp(cmd, "add") == 0) {
		struct bk_file_spec f;
		int r;

		if (argc != 4 || bk_guid_parse(argv[1], &id) != 0)
			usage();
		f.remote = argv[2];
		f.local = argv[3];
		r = ops->add_file(b, &id, &f);
		printf("add %s %d%s%s\n", argv[1], r,
		    r != BK_OK && ops->last_error && ops->last_error(b) ?
		    " " : "", r != BK_OK && ops->last_error &&
		    ops->last_error(b) ? ops->last_error(b) : "");
		rc = r == BK_OK ? 0 : 1;
	} else if (strcmp(cmd, "probe") == 0) {
		struct bk_job_spec spec;
		struct bk_probe p;
		struct bk_validators v;
		struct bk_error err;

		memset(&spec, 0, sizeof(spec));
		memset(&p, 0, sizeof(p));
		spec.proxy_usage = BK_PROXY_NO_PROXY;
		optind = 1;
		while ((ch = getopt(argc, argv, "c:t:")) != -1) {
			if (ch == 'c')
				spec.credential = optarg;
			else if (ch == 't' && strstr(optarg, "network"))
				spec.token_flags |= BK_TOKEN_NETWORK;
			if (ch == 't' && strstr(optarg, "local"))
				spec.token_flags |= BK_TOKEN_LOCAL_FILE;
		}
		if (optind >= argc)
			usage();
		p.remote = argv[optind];
		p.settings = &spec;
		if (ops->probe(b, &p, &v, &err) == BK_OK) {
			printf("{\"size\":");
			json_u64(v.size);
			printf(",\"mtime\":%lld,\"etag\":", (long long)v.mtime);
			json_str(v.etag);
			printf(",\"last_modified\":");
			json_str(v.last_modified);
			printf("}\n");
			rc = 0;
		} else {
			printf("{\"error\":{\"context\":\"%s\",\"code\":"
			    "\"0x%08X\",\"text\":",
			    bk_context_name(err.context), (unsigned)err.code);
			json_str(err.text);
			printf("}}\n");
		}
		backend_free_validators(&v);
		backend_free_error(&err);
	} else {
		for (k = 1; k < argc; k++) {
			int r = BK_E_INVALID;

			if (bk_guid_parse(argv[k], &id) != 0)
				usage();
			if (strcmp(cmd, "resume") == 0)
				r = ops->resume(b, &id);
			else if (strcmp(cmd, "suspend") == 0)
				r = ops->suspend(b, &id);
			else if (strcmp(cmd, "cancel") == 0)
				r = ops->cancel(b, &id);
			else if (strcmp(cmd, "complete") == 0)
				r = ops->complete(b, &id);
			else
				usage();
			printf("%s %s %d\n", cmd, argv[k], r);
			rc = r == BK_OK ? 0 : 1;
		}
	}
	ops->close(b);
	return rc;
}
