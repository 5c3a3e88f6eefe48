/* test_config.c - the agent config reader: every key, every refusal, and
 * the sample a user copies from. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "diag.h"

static char tmpdir[] = "/tmp/bitsync-test-config-XXXXXX";
static char inipath[256];

static void
write_file(const char *path, const char *text)
{
	FILE *fp;

	fp = fopen(path, "w");
	if (fp == NULL) {
		perror(path);
		exit(2);
	}
	fputs(text, fp);
	fclose(fp);
}

static int
load_text(const char *text, struct config *cfg, struct diags *d)
{
	write_file(inipath, text);
	diags_init(d);
	return config_load(cfg, inipath, 0, d);
}

static int
is_default(const struct config *cfg)
{
	return cfg->path == NULL && cfg->interval == 900 && cfg->splay == 0 &&
	    cfg->log_level == LOG_LEVEL_INFO && cfg->allow_drives == 0 &&
	    cfg->nallow_roots == 0 && cfg->allow_roots != NULL &&
	    cfg->allow_roots[0] == NULL && cfg->max_parallel == 4 &&
	    cfg->rate_limit == 0 && cfg->smb_port == 445 &&
	    cfg->bits_tolerate == 0 &&
	    cfg->backend == BACKEND_ENGINE && cfg->metrics_file == NULL &&
	    cfg->ca_file == NULL && cfg->machine_principal == NULL &&
	    strcmp(cfg->machine_keytab, "/etc/krb5.keytab") == 0 &&
	    strcmp(cfg->state_dir, "/var/lib/bitsync") == 0 &&
	    strcmp(cfg->status_file, "/var/lib/bitsync/status.json") == 0;
}

static void
dump(const struct diags *d)
{
	diags_print_text(d, stderr);
}

/* The file is refused, cfg is back to the defaults, and one config
 * diagnostic sits on line with a message containing needle. */
static void
expect_error_at(int srcline, const char *text, unsigned line,
    const char *needle)
{
	struct config cfg;
	struct diags d;
	size_t i;
	int found = 0, rc;

	rc = load_text(text, &cfg, &d);
	for (i = 0; i < d.n; i++)
		if (d.v[i].line == line && strstr(d.v[i].message, needle) &&
		    strcmp(d.v[i].rule, "config") == 0 &&
		    d.v[i].severity == DIAG_ERROR &&
		    strcmp(d.v[i].file, inipath) == 0)
			found = 1;
	if (rc != -1 || !found || !is_default(&cfg)) {
		fprintf(stderr, "%s:%d: expected error on line %u with "
		    "\"%s\" (rc %d, defaults %d) for:\n%s--- got:\n",
		    __FILE__, srcline, line, needle, rc, is_default(&cfg),
		    text);
		dump(&d);
		check_failures++;
	}
	config_free(&cfg);
	diags_free(&d);
}
#define expect_error(t, l, n) expect_error_at(__LINE__, (t), (l), (n))

static void
test_defaults(void)
{
	struct config cfg;
	char buf[64];

	config_defaults(&cfg);
	CHECK(is_default(&cfg));
	CHECK_STR(cfg.manifest, "/etc/bitsync/manifest.yaml");
	CHECK_STR(cfg.manifest_dir, "/etc/bitsync/manifest.d");
	CHECK_STR(cfg.credential_dir, "/etc/bitsync/credentials");
	CHECK_STR(cfg.machine_keytab, "/etc/krb5.keytab");
	CHECK(cfg.machine_principal == NULL);
	config_free(&cfg);
	CHECK(is_default(&cfg));

	config_format_drives(0, buf, sizeof(buf));
	CHECK_STR(buf, "none");
	config_format_drives((1u << 2) | (1u << 3) | (1u << 25), buf,
	    sizeof(buf));
	CHECK_STR(buf, "C,D,Z");
	config_format_drives(0x3ffffff, buf, 52);
	CHECK_STR(buf, "A,B,C,D,E,F,G,H,I,J,K,L,M,N,O,P,Q,R,S,T,U,V,W,X,Y,Z");
}

static void
test_every_key(void)
{
	struct config cfg;
	struct diags d;
	char buf[64];
	int rc;

	rc = load_text(
	    "; every key, each with a value other than its default\n"
	    "[agent]\n"
	    "manifest = /srv/m.yaml\n"
	    "manifest_dir = /srv/m.d ; inline comment\n"
	    "state_dir = /srv/state\n"
	    "backend = BITS\n"
	    "interval = 1h\n"
	    "splay = 90s\n"
	    "start_splay = 30m\n"
	    "log_level = debug\n"
	    "allow_drives = c, D:\n"
	    "allow_roots = /srv/data/, %ProgramData%\\Contoso ,\n"
	    "  D:\\data, \\\\fs01\\share\\x, /srv/data, /\n"
	    "credential_dir = /srv/cred\n"
	    "machine_keytab = /srv/krb5.keytab\n"
	    "machine_principal = WS7$@CORP.EXAMPLE\n"
	    "status_file = /srv/status.json\n"
	    "metrics_file = /srv/metrics.prom\n"
	    "bits_tolerate_unimplemented = SetProxySettings\n"
	    "\n"
	    "[engine]\n"
	    "max_parallel = 64\n"
	    "rate_limit = 10M\n"
	    "ca_file = /srv/ca.pem\n"
	    "smb_port = 4450\n", &cfg, &d);
	CHECK_INT(rc, 0);
	CHECK_INT(d.n, 0);
	if (d.n)
		dump(&d);
	CHECK_STR(cfg.path, inipath);
	CHECK_STR(cfg.manifest, "/srv/m.yaml");
	CHECK_STR(cfg.manifest_dir, "/srv/m.d");
	CHECK_STR(cfg.state_dir, "/srv/state");
	CHECK_INT(cfg.backend, BACKEND_BITS);
	CHECK_INT(cfg.interval, 3600);
	CHECK_INT(cfg.splay, 90);
	CHECK_INT(cfg.start_splay, 1800);
	CHECK_INT(cfg.log_level, LOG_LEVEL_DEBUG);
	CHECK_INT(cfg.allow_drives, (1u << 2) | (1u << 3));
	config_format_drives(cfg.allow_drives, buf, sizeof(buf));
	CHECK_STR(buf, "C,D");
	CHECK_INT(cfg.nallow_roots, 5);
	if (cfg.nallow_roots == 5) {
		CHECK_STR(cfg.allow_roots[0], "/srv/data");
		CHECK_STR(cfg.allow_roots[1], "%ProgramData%\\Contoso");
		CHECK_STR(cfg.allow_roots[2], "D:\\data");
		CHECK_STR(cfg.allow_roots[3], "\\\\fs01\\share\\x");
		CHECK_STR(cfg.allow_roots[4], "/");
		CHECK(cfg.allow_roots[5] == NULL);
	}
	CHECK_STR(cfg.credential_dir, "/srv/cred");
	CHECK_STR(cfg.machine_keytab, "/srv/krb5.keytab");
	CHECK_STR(cfg.machine_principal, "WS7$@CORP.EXAMPLE");
	CHECK_STR(cfg.status_file, "/srv/status.json");
	CHECK_STR(cfg.metrics_file, "/srv/metrics.prom");
	CHECK_INT(cfg.bits_tolerate, CONFIG_TOLERATE_SET_PROXY_SETTINGS);
	CHECK_INT(cfg.max_parallel, 64);
	CHECK_INT(cfg.rate_limit, 10 * 1024 * 1024);
	CHECK_STR(cfg.ca_file, "/srv/ca.pem");
	CHECK_INT(cfg.smb_port, 4450);
	config_free(&cfg);
	CHECK(is_default(&cfg));
	diags_free(&d);
}

static void
test_values(void)
{
	static const struct { const char *text; uint64_t rate; } rates[] = {
		{ "0", 0 }, { "5", 5 }, { "10k", 10240 }, { "10K", 10240 },
		{ "3m", 3 << 20 }, { "2G", UINT64_C(2) << 30 },
		{ "18446744073709551615", UINT64_MAX },
	};
	struct config cfg;
	struct diags d;
	char text[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		snprintf(text, sizeof(text), "[engine]\nrate_limit = %s\n",
		    rates[i].text);
		rc = load_text(text, &cfg, &d);
		CHECK_INT(rc, 0);
		CHECK(cfg.rate_limit == rates[i].rate);
		config_free(&cfg);
		diags_free(&d);
	}

	/* Empty values turn off what may be off. */
	rc = load_text("[agent]\nmanifest =\nmetrics_file =\n"
	    "allow_drives =\nallow_roots =\n[engine]\nca_file =\n", &cfg, &d);
	CHECK_INT(rc, 0);
	CHECK(cfg.manifest == NULL);
	CHECK_STR(cfg.manifest_dir, "/etc/bitsync/manifest.d");
	CHECK(cfg.metrics_file == NULL && cfg.ca_file == NULL);
	CHECK_INT(cfg.nallow_roots, 0);
	CHECK(cfg.allow_roots != NULL && cfg.allow_roots[0] == NULL);
	config_free(&cfg);
	diags_free(&d);

	/* Bounds that are allowed; splay equal to interval; a BOM, CRLF,
	 * "key: value" and '#' comments. */
	rc = load_text("\xEF\xBB\xBF[agent]\r\n# comment\r\ninterval = 1s\r\n"
	    "splay: 1s\r\n[engine]\r\nmax_parallel = 1\r\nsmb_port = 65535\r\n"
	    "[agent]\r\nlog_level = Warning\r\n", &cfg, &d);
	CHECK_INT(rc, 0);
	if (d.n)
		dump(&d);
	CHECK_INT(cfg.interval, 1);
	CHECK_INT(cfg.splay, 1);
	CHECK_INT(cfg.max_parallel, 1);
	CHECK_INT(cfg.smb_port, 65535);
	CHECK_INT(cfg.log_level, LOG_LEVEL_WARNING);
	config_free(&cfg);
	diags_free(&d);

	/* Continuations: each indented line adds entries; comments and
	 * blank lines between them do not end the value (inih's rule). */
	rc = load_text("[agent]\nallow_roots = /a,\n  ; note\n  /b\n\n"
	    "  /c, /d\nallow_drives = c\n  d e:\n", &cfg, &d);
	CHECK_INT(rc, 0);
	CHECK_INT(cfg.nallow_roots, 4);
	if (cfg.nallow_roots == 4)
		CHECK_STR(cfg.allow_roots[3], "/d");
	CHECK_INT(cfg.allow_drives, (1u << 2) | (1u << 3) | (1u << 4));
	config_free(&cfg);
	diags_free(&d);

	/* A comment longer than inih's line buffer is harmless. */
	{
		char longtext[600];

		snprintf(longtext, sizeof(longtext), "; %0400d\n[agent]\n"
		    "interval = 5m\n", 0);
		rc = load_text(longtext, &cfg, &d);
		CHECK_INT(rc, 0);
		CHECK_INT(cfg.interval, 300);
		config_free(&cfg);
		diags_free(&d);
	}

	/* An empty file is the defaults, read from a file. */
	rc = load_text("", &cfg, &d);
	CHECK_INT(rc, 0);
	CHECK_STR(cfg.path, inipath);
	config_free(&cfg);
	diags_free(&d);
}

static void
test_refusals(void)
{
	/* Bad values: the message names the key and what to write. */
	expect_error("[agent]\nmanifest = etc/m.yaml\n", 2,
	    "manifest: 'etc/m.yaml' is not an absolute path");
	expect_error("[agent]\n\nmanifest_dir = m.d\n", 3, "manifest_dir");
	expect_error("[agent]\nstate_dir =\n", 2,
	    "state_dir needs a value; write an absolute path");
	expect_error("[agent]\nstate_dir = var/lib\n", 2, "state_dir");
	expect_error("[agent]\nbackend = bitz\n", 2,
	    "backend: 'bitz' is not a backend; write engine or bits");
	expect_error("[agent]\nbackend =\n", 2, "backend");
	expect_error("[agent]\ninterval = 15\n", 2,
	    "interval: '15' is not a duration; write an integer followed "
	    "by s, m, h or d, e.g. interval = 15m");
	expect_error("[agent]\ninterval = 0\n", 2,
	    "interval: 0 is out of range; write a duration from 1s to 365d");
	expect_error("[agent]\ninterval = 366d\n", 2, "out of range");
	expect_error("[agent]\ninterval = 15 m\n", 2, "not a duration");
	expect_error("[agent]\nsplay = -1s\n", 2, "splay");
	expect_error("[agent]\nstart_splay = 2d\n", 2, "start_splay");
	expect_error("[agent]\nlog_level = warn\n", 2,
	    "log_level: 'warn' is not a log level; did you mean 'warning'?");
	expect_error("[agent]\nlog_level = verbose\n", 2,
	    "write error, warning, info or debug");
	expect_error("[agent]\nallow_drives = CD\n", 2,
	    "allow_drives: 'CD' is not a drive letter; write single letters "
	    "separated by commas, e.g. allow_drives = C,D");
	expect_error("[agent]\nallow_drives = C, 1\n", 2, "'1'");
	expect_error("[agent]\nmachine_keytab = krb5.keytab\n", 2,
	    "machine_keytab: 'krb5.keytab' is not an absolute path");
	expect_error("[agent]\nmachine_principal = WS7 $@CORP\n", 2,
	    "machine_principal: 'WS7 $@CORP' is not a Kerberos principal; "
	    "write the computer account as klist -k lists it, e.g. "
	    "machine_principal = WS1$@CORP.EXAMPLE");
	expect_error("[agent]\nmachine_principal = @CORP\n", 2,
	    "not a Kerberos principal");
	expect_error("[agent]\nallow_roots = /srv, data\n", 2,
	    "allow_roots: 'data' is not an absolute path");
	expect_error("[agent]\nallow_roots = /srv/../etc\n", 2,
	    "'..' component");
	expect_error("[agent]\nallow_roots = C:data\n", 2, "C:data");
	expect_error("[agent]\nallow_roots = %APPDATA%\\x\n", 2,
	    "%APPDATA%");
	expect_error("[agent]\ncredential_dir =\n", 2, "credential_dir");
	expect_error("[agent]\nstatus_file = status.json\n", 2,
	    "status_file");
	expect_error("[agent]\nmetrics_file = x.prom\n", 2, "metrics_file");
	expect_error("[engine]\nmax_parallel = 0\n", 2,
	    "max_parallel: '0' is not a whole number from 1 to 64; write "
	    "e.g. max_parallel = 4");
	expect_error("[engine]\nmax_parallel = 65\n", 2, "from 1 to 64");
	expect_error("[engine]\nmax_parallel = four\n", 2, "'four'");
	expect_error("[engine]\nmax_parallel = -1\n", 2, "max_parallel");
	expect_error("[engine]\nrate_limit = 10MB\n", 2,
	    "rate_limit: '10MB' is not a rate");
	expect_error("[engine]\nrate_limit = -5\n", 2, "rate_limit");
	expect_error("[engine]\nrate_limit = 18446744073709551616\n", 2,
	    "rate_limit");
	expect_error("[engine]\nrate_limit = 17179869184G\n", 2,
	    "rate_limit");
	expect_error("[engine]\nca_file = ca.pem\n", 2, "ca_file");
	expect_error("[engine]\nsmb_port = 0\n", 2,
	    "from 1 to 65535; write e.g. smb_port = 445");
	expect_error("[engine]\nsmb_port = 65536\n", 2, "smb_port");

	/* Unknown keys and sections, with a suggestion. */
	expect_error("[agent]\nintervall = 5m\n", 2,
	    "unknown key 'intervall' in [agent]; did you mean 'interval'?");
	expect_error("[agent]\nxyzzy = 5m\n", 2,
	    "the keys of [agent] are: manifest, manifest_dir, state_dir");
	expect_error("[engine]\nmax_paralel = 2\n", 2, "'max_parallel'");
	expect_error("[agent]\nmax_parallel = 2\n", 2,
	    "key 'max_parallel' belongs in [engine], not [agent]; move it "
	    "under [engine]");
	expect_error("interval = 5m\n[agent]\n", 1,
	    "key 'interval' comes before any section header; put it under "
	    "[agent]");
	expect_error("intervl = 5m\n", 1, "did you mean 'interval'");
	expect_error("[agent]\n= 5m\n", 2, "no key name");
	expect_error("[agnet]\ninterval = 5m\n", 1,
	    "unknown section [agnet]; did you mean [agent]?");
	expect_error("[agent]\n[zzz]\nfoo = 1\n", 2,
	    "unknown section [zzz]; the sections are [agent] and [engine]");
	expect_error("[agent\ninterval = 5m\n", 1, "section header without");

	/* Duplicates, syntax, lines inih would mangle. */
	expect_error("[agent]\ninterval = 5m\nsplay = 1m\ninterval = 6m\n", 4,
	    "duplicate key 'interval' (first set on line 2)");
	expect_error("[agent]\nallow_drives = C\n[engine]\n[agent]\n"
	    "allow_drives = D\n", 5, "duplicate key 'allow_drives'");
	expect_error("[agent]\ninterval 5m\n", 2,
	    "neither a [section] header nor 'key = value'");
	expect_error("[agent]\ninterval = 5m\n   splay = 1m\n", 3,
	    "continues the value of 'interval' (line 2); remove the "
	    "indentation");
	expect_error("[agent]\nallow_roots = /a,\n  relative\n", 3,
	    "'relative' is not an absolute path");
	{
		char text[400];

		snprintf(text, sizeof(text), "[agent]\nallow_roots = /%0250d\n"
		    "interval = 5m\n", 0);
		expect_error(text, 2, "longer than 197 bytes");
	}

	/* Rules between keys. */
	expect_error("[agent]\ninterval = 5m\nsplay = 6m\n", 3,
	    "splay (6m) is longer than interval (5m)");
	expect_error("[agent]\nsplay = 1h\n", 2, "at most 15m");
	expect_error("[agent]\nmanifest =\nmanifest_dir =\n", 3,
	    "neither manifest nor manifest_dir is set");

	/* One bad line refuses the good ones too. */
	expect_error("[agent]\ninterval = 5m\nlog_level = debug\n[engine]\n"
	    "max_parallel = 8\nsmb_port = 0\n", 6, "smb_port");
}

/* bits_tolerate_unimplemented (issue 5): a list of named BITS calls, empty
 * by default; an unknown name refuses the file, with a suggestion. */
static void
test_tolerate(void)
{
	struct config cfg;
	struct diags d;
	int rc;

	rc = load_text("[agent]\nbits_tolerate_unimplemented =\n", &cfg, &d);
	CHECK_INT(rc, 0);
	CHECK_INT(cfg.bits_tolerate, 0);
	config_free(&cfg);
	diags_free(&d);
	rc = load_text("[agent]\nbits_tolerate_unimplemented = "
	    "SetProxySettings, SetProxySettings\n", &cfg, &d);
	CHECK_INT(rc, 0);
	CHECK_INT(cfg.bits_tolerate, CONFIG_TOLERATE_SET_PROXY_SETTINGS);
	config_free(&cfg);
	diags_free(&d);
	expect_error("[agent]\nbits_tolerate_unimplemented = "
	    "SetProxySetings\n", 2, "did you mean 'SetProxySettings'?");
	expect_error("[agent]\nbits_tolerate_unimplemented = "
	    "SetProxySettings Suspend\n", 2, "'Suspend' is not a BITS call "
	    "this setting can tolerate");
	/* Names are BITS's own, matched exactly. */
	expect_error("[agent]\nbits_tolerate_unimplemented = "
	    "setproxysettings\n", 2, "did you mean 'SetProxySettings'?");
	/* One line: it is no list that grows on continuation lines. */
	expect_error("[agent]\nbits_tolerate_unimplemented = "
	    "SetProxySettings\n  SetProxySettings\n", 3, "continues the "
	    "value of 'bits_tolerate_unimplemented'");
	expect_error("[engine]\nbits_tolerate_unimplemented = "
	    "SetProxySettings\n", 2, "belongs in [agent]");
}

static void
test_all_errors_reported(void)
{
	struct config cfg;
	struct diags d;
	int rc;

	rc = load_text("[agent]\ninterval = x\nsplay = y\n[engine]\n"
	    "smb_port = 0\nbogus = 1\n", &cfg, &d);
	CHECK_INT(rc, -1);
	CHECK_INT(d.n, 4);
	CHECK_INT(d.errors, 4);
	CHECK(is_default(&cfg));
	config_free(&cfg);
	diags_free(&d);
}

/* fputs stops at a NUL, so this one is written by length. */
static void
test_nul_byte(void)
{
	static const char text[] = "[agent]\ninter\0val = 5m\nsplay = 0\n";
	struct config cfg;
	struct diags d;
	FILE *fp;
	int rc;

	fp = fopen(inipath, "w");
	if (fp == NULL)
		exit(2);
	fwrite(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	diags_init(&d);
	rc = config_load(&cfg, inipath, 0, &d);
	CHECK_INT(rc, -1);
	CHECK_INT(d.n, 1);
	if (d.n == 1) {
		CHECK_INT(d.v[0].line, 2);
		CHECK_HAS(d.v[0].message, "NUL byte");
	}
	config_free(&cfg);
	diags_free(&d);
}

static void
test_missing(void)
{
	struct config cfg;
	struct diags d;
	char path[300];
	int rc;

	snprintf(path, sizeof(path), "%s/nonexistent.ini", tmpdir);
	diags_init(&d);
	rc = config_load(&cfg, path, 1, &d);
	CHECK_INT(rc, 0);
	CHECK_INT(d.n, 0);
	CHECK(is_default(&cfg));
	config_free(&cfg);

	rc = config_load(&cfg, path, 0, &d);
	CHECK_INT(rc, -1);
	CHECK_INT(d.n, 1);
	if (d.n == 1) {
		CHECK_STR(d.v[0].rule, "io-error");
		CHECK_STR(d.v[0].file, path);
		CHECK_HAS(d.v[0].message, "No such file");
		CHECK_INT(d.io_errors, 1);
	}
	CHECK(is_default(&cfg));
	config_free(&cfg);
	diags_free(&d);

	/* A directory is not a config, even when a missing one is fine. */
	diags_init(&d);
	rc = config_load(&cfg, tmpdir, 1, &d);
	CHECK_INT(rc, -1);
	CHECK_INT(d.n, 1);
	if (d.n == 1)
		CHECK_STR(d.v[0].rule, "io-error");
	config_free(&cfg);
	diags_free(&d);
}

static void
test_sample(void)
{
	struct config cfg;
	struct diags d;
	int rc;

	diags_init(&d);
	rc = config_load(&cfg, BITSYNC_SAMPLE_INI, 0, &d);
	CHECK_INT(rc, 0);
	CHECK_INT(d.n, 0);
	if (d.n)
		dump(&d);
	/* The sample states the defaults: loading it changes nothing
	 * but the path. */
	CHECK_INT(cfg.interval, 900);
	CHECK_INT(cfg.max_parallel, 4);
	CHECK_INT(cfg.smb_port, 445);
	CHECK_INT(cfg.backend, BACKEND_ENGINE);
	CHECK_STR(cfg.state_dir, "/var/lib/bitsync");
	config_free(&cfg);
	diags_free(&d);
}

/* status_file follows a custom state_dir unless set itself (a daemon with
 * its own state_dir must not write or look for /var/lib/bitsync). */
static void
test_status_follows_state_dir(void)
{
	struct config cfg;
	struct diags d;

	CHECK_INT(load_text("[agent]\nstate_dir = /srv/st/\n", &cfg, &d), 0);
	CHECK_STR(cfg.status_file, "/srv/st/status.json");
	config_free(&cfg);
	diags_free(&d);
	CHECK_INT(load_text("[agent]\nstatus_file = /srv/s.json\n"
	    "state_dir = /srv/st\n", &cfg, &d), 0);
	CHECK_STR(cfg.status_file, "/srv/s.json");
	config_free(&cfg);
	diags_free(&d);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	snprintf(inipath, sizeof(inipath), "%s/bitsync.ini", tmpdir);
	test_defaults();
	test_every_key();
	test_status_follows_state_dir();
	test_values();
	test_refusals();
	test_tolerate();
	test_all_errors_reported();
	test_nul_byte();
	test_missing();
	test_sample();
	unlink(inipath);
	rmdir(tmpdir);
	return check_done();
}
