/* cangate: the command-line tool (decode, check, verify, report, status...). */
#include <stdio.h>
#include <string.h>

#include "daemon/cli/commands.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
} commands[] = {
	{"decode", cmd_decode, "decode --dbc FILE[,FILE..] [--bus NAME=FILE] [--all] [--choices] [LOG...|-]"},
	{"dbc", cmd_dbc, "dbc lint FILE | dbc show FILE"},
	{"check", cmd_check, "check -c CONFIG [--out DIR] LOG..."},
	{"verify", cmd_verify, "verify BUNDLE [--pubkey PATH]"},
	{"report", cmd_report, "report BUNDLE [-o FILE]"},
	{"export", cmd_export, "export BUNDLE --asc|--csv [-o FILE]"},
	{"keygen", cmd_keygen, "keygen [-o PREFIX]"},
	{"status", cmd_status, "status [-s SOCKET | --all] [--json]"},
	{"monitor", cmd_monitor, "monitor [-s SOCKET] [--filter TEXT] [--plain]"},
	{"watch", cmd_watch, "watch [-s SOCKET] SIGNAL..."},
	{"mark", cmd_mark, "mark [-s SOCKET] TEXT"},
	{"session", cmd_session, "session [-s SOCKET] start [--vin V --procedure P --operator O] | stop"},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: cangate COMMAND [ARGS]\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  cangate %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("cangate %s\n", CANGATE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "cangate: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
