/*
 * commands.h: the `cangate` subcommands. Each takes the arguments after its
 * name (argv[0] is the subcommand) and returns the process exit code:
 * 0 success, 1 the checked thing failed (FAIL verdict, bad evidence, lint
 * errors), 2 usage or input error.
 */
#ifndef CANGATE_COMMANDS_H
#define CANGATE_COMMANDS_H

int cmd_decode(int argc, char **argv);  /* cmd_decode.c */
int cmd_dbc(int argc, char **argv);     /* cmd_dbc.c: lint, show */
int cmd_check(int argc, char **argv);   /* cmd_check.c */
int cmd_verify(int argc, char **argv);  /* cmd_verify.c */
int cmd_report(int argc, char **argv);  /* cmd_report.c */
int cmd_export(int argc, char **argv);  /* cmd_export.c */
int cmd_keygen(int argc, char **argv);  /* cmd_verify.c */
int cmd_status(int argc, char **argv);  /* cmd_control.c */
int cmd_mark(int argc, char **argv);    /* cmd_control.c */
int cmd_session(int argc, char **argv); /* cmd_control.c */
int cmd_monitor(int argc, char **argv); /* cmd_monitor.c */
int cmd_watch(int argc, char **argv);   /* cmd_monitor.c */

#endif
