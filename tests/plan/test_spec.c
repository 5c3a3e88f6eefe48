/* test_spec.c - the effective spec of a set and its hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "util.h"

static int failures;

static void
check_str(const char *what, const char *got, const char *want)
{
	if (got == NULL || strcmp(got, want) != 0) {
		printf("FAIL %s: got \"%s\", want \"%s\"\n", what,
		    got ? got : "(null)", want);
		failures++;
	} else
		printf("ok   %s\n", what);
}

static const char *const hdrs[] = { "X-Fleet: contoso", "X-B: 2" };
static const char *const proxies[] = { "p1:8080", "p2:3128" };
static const char *const bypass[] = { "<local>", "*.corp.example" };

static struct msource http_src, unc_src;
static struct mfile files[3];
static struct mset set;

static const struct msettings defaults = {
	.priority = PRIO_NORMAL, .refresh = 21600, .retry_delay = 600,
	.no_progress_timeout = 14 * 86400, .max_download_time = 90 * 86400,
	.on_remove = ON_REMOVE_KEEP, .mode = MODE_ENFORCE,
};

static void
reset(void)
{
	memset(&http_src, 0, sizeof(http_src));
	http_src.name = "cdn";
	http_src.url = "https://downloads.example.com/pkgs/";
	http_src.kind = SOURCE_HTTPS;
	http_src.proxy_usage = PROXY_OVERRIDE;
	http_src.proxy_servers = proxies;
	http_src.nproxy_servers = 2;
	http_src.proxy_bypass = bypass;
	http_src.nproxy_bypass = 2;
	http_src.headers = hdrs;
	http_src.nheaders = 2;
	memset(&unc_src, 0, sizeof(unc_src));
	unc_src.name = "dist";
	unc_src.url = "\\\\fileserver01.corp.example\\dist";
	unc_src.kind = SOURCE_UNC;
	unc_src.auth_computer = 1;
	unc_src.proxy_usage = PROXY_UNSET;
	memset(files, 0, sizeof(files));
	files[0].remote = "vc_redist.x64.exe";
	files[0].local = "vc_redist.x64.exe";
	files[1].remote = "vc redist#x86.exe";
	files[1].local = "x86/vc_redist.exe";
	files[1].has_sha256 = 1;
	memset(files[1].sha256, 0x4c, 32);
	files[2].remote = "sub/dir/ä.txt";
	files[2].local = "a.txt";
	memset(&set, 0, sizeof(set));
	set.name = "vcredist";
	set.source = &http_src;
	set.source_name = "cdn";
	set.path = "vcredist/2022";
	set.destination = "/opt/contoso/vcredist/";
	set.files = files;
	set.nfiles = 3;
	set.settings = defaults;
}

static void
hash_of(char out[65])
{
	struct spec sp;

	if (spec_build(&set, PLATFORM_POSIX, &sp) != 0) {
		printf("FAIL spec_build\n");
		failures++;
		out[0] = '\0';
		return;
	}
	memcpy(out, sp.hash, 65);
	spec_free(&sp);
}

/* Each mutation is an effective change: the hash must move. */
static void
test_changes(void)
{
	char base[65], h[65];
	int i;
	static const char *const what[] = {
		"priority", "retry_delay", "no_progress_timeout",
		"max_download_time", "url", "path", "destination",
		"file remote", "file local", "sha256 added", "sha256 value",
		"header", "proxy server order", "bypass", "proxy usage",
		"credential", "token usage", "file removed", "set name",
	};

	reset();
	hash_of(base);
	for (i = 0; i < (int)(sizeof(what) / sizeof(what[0])); i++) {
		static const char *const one_hdr[] = { "X-Fleet: other" };
		static const char *const rev[] = { "p2:3128", "p1:8080" };

		reset();
		switch (i) {
		case 0: set.settings.priority = PRIO_HIGH; break;
		case 1: set.settings.retry_delay = 601; break;
		case 2: set.settings.no_progress_timeout = 1; break;
		case 3: set.settings.max_download_time = 0; break;
		case 4: http_src.url = "https://downloads.example.com/other/"; break;
		case 5: set.path = "vcredist/2023"; break;
		case 6: set.destination = "/opt/contoso/x"; break;
		case 7: files[0].remote = "vc_redist.arm64.exe"; break;
		case 8: files[0].local = "y.exe"; break;
		case 9: files[0].has_sha256 = 1; break;
		case 10: files[1].sha256[31] = 0; break;
		case 11: http_src.headers = one_hdr; http_src.nheaders = 1; break;
		case 12: http_src.proxy_servers = rev; break;
		case 13: http_src.nproxy_bypass = 1; break;
		case 14: http_src.proxy_usage = PROXY_NO_PROXY; break;
		case 15: http_src.credential = "dist-reader";
			http_src.token_usage = TOKEN_NETWORK; break;
		case 16: http_src.credential = "dist-reader";
			http_src.token_usage = TOKEN_NETWORK | TOKEN_LOCAL_FILE;
			break;
		case 17: set.nfiles = 2; break;
		case 18: set.name = "vcredist2"; break;
		}
		hash_of(h);
		if (i == 16) {
			/* compare against the credential-only variant */
			char h15[65];

			http_src.token_usage = TOKEN_NETWORK;
			hash_of(h15);
			if (strcmp(h, h15) == 0) {
				printf("FAIL hash unchanged by token usage\n");
				failures++;
			}
		}
		if (strcmp(h, base) == 0) {
			printf("FAIL hash unchanged by %s\n", what[i]);
			failures++;
		} else
			printf("ok   hash changes with %s\n", what[i]);
	}
}

/* What does not change the job does not change the hash. */
static void
test_same(void)
{
	char base[65], h[65];
	struct mfile swapped[3];

	reset();
	hash_of(base);
	if (strlen(base) != 64) {
		printf("FAIL hash length\n");
		failures++;
	}
	reset();
	set.settings.refresh = 1;
	set.settings.on_remove = ON_REMOVE_DELETE;
	set.settings.mode = MODE_MONITOR;
	hash_of(h);
	check_str("refresh/on_remove/mode do not change the hash", h, base);

	reset();
	swapped[0] = files[2];
	swapped[1] = files[0];
	swapped[2] = files[1];
	set.files = swapped;
	hash_of(h);
	check_str("file order does not change the hash", h, base);

	reset();
	set.destination = "/opt/contoso/vcredist";
	set.path = "/vcredist/2022/";
	http_src.url = "https://downloads.example.com/pkgs";
	hash_of(h);
	check_str("trailing separators do not change the hash", h, base);

	reset();
	files[1].local = "x86\\vc_redist.exe";
	hash_of(h);
	check_str("backslash in a local name is a separator", h, base);

	/* Proxy and headers mean nothing to a UNC source (proxy-scope). */
	reset();
	set.source = &unc_src;
	hash_of(base);
	unc_src.proxy_usage = PROXY_OVERRIDE;
	unc_src.proxy_servers = proxies;
	unc_src.nproxy_servers = 2;
	unc_src.headers = hdrs;
	unc_src.nheaders = 1;
	hash_of(h);
	check_str("proxy on a UNC source does not change the hash", h, base);
}

static void
test_paths(void)
{
	struct spec sp;
	size_t len;
	char *s;

	reset();
	if (spec_build(&set, PLATFORM_POSIX, &sp) != 0) {
		failures++;
		return;
	}
	/* Files come sorted by local path. */
	check_str("local 0", sp.files[0].local, "/opt/contoso/vcredist/a.txt");
	check_str("remote 0 percent-encoded",
	    sp.files[0].remote,
	    "https://downloads.example.com/pkgs/vcredist/2022/sub/dir/%C3%A4.txt");
	check_str("local 1", sp.files[1].local,
	    "/opt/contoso/vcredist/vc_redist.x64.exe");
	check_str("local 2", sp.files[2].local,
	    "/opt/contoso/vcredist/x86/vc_redist.exe");
	check_str("remote 2 percent-encoded", sp.files[2].remote,
	    "https://downloads.example.com/pkgs/vcredist/2022/vc%20redist%23x86.exe");
	if (!sp.meta[2].has_sha256 || sp.meta[2].sha256[0] != 0x4c ||
	    sp.meta[0].has_sha256) {
		printf("FAIL sha256 does not follow its file\n");
		failures++;
	}
	check_str("display name", sp.display_name, "bitsync:vcredist");
	s = xasprintf("bitsync/1 set=vcredist spec=%s", sp.hash);
	check_str("description", sp.description, s);
	free(s);
	check_str("proxy list", sp.job.proxy_list, "p1:8080 p2:3128");
	check_str("proxy bypass", sp.job.proxy_bypass,
	    "<local> *.corp.example");
	check_str("headers CRLF", sp.job.custom_headers,
	    "X-Fleet: contoso\r\nX-B: 2");
	if (sp.job.proxy_usage != BK_PROXY_OVERRIDE ||
	    sp.job.priority != BK_NORMAL || sp.job.retry_delay != 600 ||
	    sp.job.no_progress_timeout != 14 * 86400 || sp.job.nfiles != 3 ||
	    sp.job.auth_computer) {
		printf("FAIL job settings\n");
		failures++;
	}
	check_str("owner set from display name",
	    spec_job_set(sp.display_name, &len), "vcredist");
	check_str("owner hash from description",
	    spec_job_hash(sp.description, "vcredist", 8), sp.hash);
	if (spec_job_hash(sp.description, "vcredis", 7) != NULL ||
	    spec_job_set("bitsync:", &len) != NULL ||
	    spec_job_set("Bitsync:x", &len) != NULL ||
	    spec_job_hash("bitsync/1 set=vcredist spec=abc", "vcredist", 8)
	    != NULL) {
		printf("FAIL ownership tags too lax\n");
		failures++;
	}
	spec_free(&sp);

	set.source = &unc_src;
	set.path = "vcredist/2022";
	if (spec_build(&set, PLATFORM_WINDOWS, &sp) != 0) {
		failures++;
		return;
	}
	check_str("UNC remote", sp.files[2].remote,
	    "\\\\fileserver01.corp.example\\dist\\vcredist\\2022\\vc redist#x86.exe");
	check_str("Windows local", sp.files[2].local,
	    "\\opt\\contoso\\vcredist\\x86\\vc_redist.exe");
	if (!sp.job.auth_computer || sp.job.proxy_list != NULL ||
	    sp.job.custom_headers != NULL) {
		printf("FAIL UNC job settings\n");
		failures++;
	}
	spec_free(&sp);
	s = spec_local_path("%ProgramData%\\Contoso\\", "a/b.exe",
	    PLATFORM_WINDOWS);
#ifndef _WIN32
	check_str("known folder kept on a non-Windows build", s,
	    "%ProgramData%\\Contoso\\a\\b.exe");
#endif
	free(s);
	s = spec_local_path("/", "a/b", PLATFORM_POSIX);
	check_str("root destination", s, "/a/b");
	free(s);

	set.source = NULL;
	if (spec_build(&set, PLATFORM_POSIX, &sp) != -1) {
		printf("FAIL set without a source built\n");
		failures++;
	} else
		printf("ok   set without a source refused\n");
}

int
main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_same();
	test_changes();
	test_paths();
	if (failures) {
		printf("%d failure(s)\n", failures);
		return 1;
	}
	printf("all passed\n");
	return 0;
}
