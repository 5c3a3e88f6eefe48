/* cmd_service.c - `bitsync service install [--account ACCOUNT]` and
 * `bitsync service uninstall`, `bitsync service configure` (Windows only): the service "bitsync" runs
 * "bitsync.exe run --service" as LocalSystem (the default),
 * NetworkService or LocalService, started automatically after BITS, with
 * its Event Log source.  README "Service accounts" says what each account
 * means for network identity.  `configure` gives an installed service the
 * quoted command line and failure actions `install` writes: the MSI runs
 * it after Windows Installer created the service. */
#include <windows.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "win/service.h"

int
cmd_service(const struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "account", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	enum service_account acct = SVC_LOCAL_SYSTEM;
	char err[512];
	int ch;

	(void)cli;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			if (service_parse_account(optarg, &acct) == -1) {
				fprintf(stderr, "bitsync service: --account is "
				    "LocalSystem, NetworkService or "
				    "LocalService, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc || (strcmp(argv[optind], "install") != 0 &&
	    strcmp(argv[optind], "uninstall") != 0 &&
	    strcmp(argv[optind], "configure") != 0)) {
		fprintf(stderr, "usage: bitsync service install [--account "
		    "LocalSystem|NetworkService|LocalService] | configure | "
		    "uninstall\n");
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "install") == 0) {
		if (service_install(SERVICE_NAME_DEFAULT, acct, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "bitsync service install: %s\n", err);
			return EXIT_UNAVAILABLE;
		}
		fprintf(stderr, "bitsync service install: installed service "
		    "'%s'; start it with: sc start %s\n", SERVICE_NAME_DEFAULT,
		    SERVICE_NAME_DEFAULT);
		return EXIT_OK;
	}
	if (strcmp(argv[optind], "configure") == 0) {
		if (service_configure(SERVICE_NAME_DEFAULT, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "bitsync service configure: %s\n", err);
			return EXIT_UNAVAILABLE;
		}
		return EXIT_OK;
	}
	if (service_uninstall(SERVICE_NAME_DEFAULT, err, sizeof(err)) == -1) {
		fprintf(stderr, "bitsync service uninstall: %s\n", err);
		return EXIT_UNAVAILABLE;
	}
	return EXIT_OK;
}
