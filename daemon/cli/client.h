/*
 * client.h: the client side of the control socket, shared by the commands
 * that talk to a running daemon (cmd_control.c, cmd_monitor.c).
 */
#ifndef CANGATE_CLIENT_H
#define CANGATE_CLIENT_H

/* $CANGATE_CONTROL, else CONTROL_DEFAULT_PATH. */
const char *client_default_path(void);
/* A connected socket, or -1 after a one-line error on stderr naming prog
 * and path. */
int client_connect(const char *prog, const char *path);
/* Send one request line, read one response line into a malloc'd string
 * (without its newline); NULL after an error on stderr. */
char *client_request(const char *prog, const char *path, const char *request);
/* The string value of key when it is the reply's first member, unescaped
 * into a malloc'd string; NULL otherwise. */
char *client_json_string(const char *json, const char *key);

/* s as a "quoted" request value (control.h grammar) into out: its length,
 * or -1 when it does not fit or holds control characters. */
int client_quote(const char *s, char *out, size_t size);

#endif
